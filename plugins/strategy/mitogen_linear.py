"""The project's default strategy: Mitogen's linear strategy.

Ansible's own linear strategy starts a new Python on the VPS for every task;
Mitogen keeps one per host for the whole run, which makes a run with nothing
to change about twice as fast (docs/performance.md). Task order and results
are Ansible's: only how modules reach the VPS changes.

Set ANSIBLE_STRATEGY=linear to run without it. Without the mitogen package
(requirements.txt) the run uses Ansible's linear strategy and says so.
"""

try:
    from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule
except ImportError as error:
    from ansible.plugins.strategy.linear import StrategyModule as _Linear
    from ansible.utils.display import Display

    _REASON = str(error)

    class StrategyModule(_Linear):
        def run(self, iterator, play_context):
            Display().warning(f"mitogen is not installed ({_REASON}): running with Ansible's linear strategy")
            return super().run(iterator, play_context)

__all__ = ["StrategyModule"]
