"""The project's default strategy: Mitogen's linear strategy.

Ansible's own linear strategy starts a new Python on the VPS for every task;
Mitogen keeps one per host for the whole run, which makes a run with nothing
to change about twice as fast (docs/performance.md). Task order and results
are Ansible's: only how modules reach the VPS changes.

Each task runs in a worker process forked from ansible-playbook, and what a
worker loads dies with it. Two things every worker loaded again are loaded
once in the main process instead, before the first fork, which cuts the
controller's CPU per task by about a fifth (docs/performance.md). And the
module_utils files Mitogen reads to learn what each module imports are read
once per run, not once per module. With the objects of the main process kept
out of the workers' garbage collections, a no-op site.yml takes about a
sixth less CPU on the controller (docs/performance.md).

Set ANSIBLE_STRATEGY=linear to run without it. Without the mitogen package
(requirements.txt) the run uses Ansible's linear strategy and says so.
"""

import gc

from ansible.collections.list import list_collection_dirs
from ansible.plugins.loader import filter_loader, test_loader

try:
    import ansible_mitogen.module_finder as mitogen_module_finder
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
        # What the main process holds now lasts the play: out of the garbage
        # collector's sight, a worker's collections do not walk (and so copy)
        # the pages it shares with the main process.
        gc.freeze()

    # Mitogen learns which module_utils a module needs by compiling the module
    # and every module_utils file it reaches, and walking their imports. It
    # keeps the answer per module, not per file, so each new module a run uses
    # compiles ansible-core's module_utils again: about 2 s of CPU per run.
    # Both steps are pure functions of the file's source, so they are kept per
    # source for the run (in Mitogen's connection process, forked after this).
    _compiled = {}
    _imports = {}
    _walk_imports = mitogen_module_finder.walk_imports

    def _compile_once(source, filename, mode):
        key = (source, filename, mode)
        if key not in _compiled:
            _compiled[key] = compile(source, filename, mode)
        return _compiled[key]

    def _walk_imports_once(code, prefix=None):
        # The code objects come from _compile_once and live for the run: their
        # id is a stable key.
        key = (id(code), prefix)
        if key not in _imports:
            _imports[key] = tuple(_walk_imports(code, prefix))
        return _imports[key]

    if hasattr(mitogen_module_finder, "_scan_importlib_find_spec"):  # where both are called since 0.3.4
        mitogen_module_finder.compile = _compile_once
        mitogen_module_finder.walk_imports = _walk_imports_once

    class StrategyModule(mitogen_linear.StrategyModule):
        def run(self, iterator, play_context):
            _load_before_forking()
            return super().run(iterator, play_context)

__all__ = ["StrategyModule"]
