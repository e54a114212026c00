"""The project's default strategy: Mitogen's linear strategy.

Ansible's own linear strategy starts a new Python on the VPS for every task;
Mitogen keeps one per host for the whole run, which makes a run with nothing
to change about twice as fast (docs/performance.md). Task order and results
are Ansible's: only how modules reach the VPS changes.

Each task runs in a worker process forked from ansible-playbook, and what a
worker loads dies with it. Two things every worker loaded again are loaded
once in the main process instead, before the first fork, which cuts the
controller's CPU per task by about a fifth (docs/performance.md).

Set ANSIBLE_STRATEGY=linear to run without it. Without the mitogen package
(requirements.txt) the run uses Ansible's linear strategy and says so.
"""

from ansible.collections.list import list_collection_dirs
from ansible.plugins.loader import filter_loader, test_loader

try:
    import ansible_mitogen.planner as mitogen_planner
    from ansible_mitogen.plugins.strategy import mitogen_linear
except ImportError as error:
    from ansible.plugins.strategy.linear import StrategyModule as _Linear
    from ansible.utils.display import Display

    _REASON = str(error)

    class StrategyModule(_Linear):
        def run(self, iterator, play_context):
            Display().warning(f"mitogen is not installed ({_REASON}): running with Ansible's linear strategy")
            return super().run(iterator, play_context)

else:
    _collection_dirs = None

    def _load_collections_once(invocation):
        """Mitogen's planner hook, fed from the list made before forking."""
        invocation._extra_sys_paths.update(_collection_dirs)

    def _load_before_forking():
        global _collection_dirs
        # Mitogen's planner lists every installed collection (importing each and
        # parsing its meta/runtime.yml) for every task that runs a collection's
        # module: a third of a second each with the ansible package's ones.
        if _collection_dirs is None and hasattr(mitogen_planner, "_load_collections"):  # its hook since 0.3
            _collection_dirs = frozenset(path.decode("utf-8") for path in list_collection_dirs())
            mitogen_planner._load_collections = _load_collections_once
        # A worker loads every filter and test plugin file when it first
        # templates one (loaded once; later calls find them cached).
        for loader in (filter_loader, test_loader):
            next(loader.all(path_only=True), None)

    class StrategyModule(mitogen_linear.StrategyModule):
        def run(self, iterator, play_context):
            _load_before_forking()
            return super().run(iterator, play_context)

__all__ = ["StrategyModule"]
