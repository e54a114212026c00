"""ansible.cfg's strategy: Mitogen's linear strategy, or Ansible's own linear
strategy with a warning when the mitogen package is missing."""

import gzip
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
PLAY = "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - ansible.builtin.command: 'true'\n      changed_when: false\n"


def run_play(tmp_path, env_extra=None, play=PLAY):
    playbook = tmp_path / "play.yml"
    playbook.write_text(play)
    env = {"PATH": str(ANSIBLE_PLAYBOOK.parent) + ":/usr/bin:/bin", "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", **(env_extra or {})}
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", str(playbook)],
                          cwd=PROJECT, env=env, capture_output=True, text=True, check=False)


def test_the_configured_strategy_is_mitogens():
    from ansible.plugins.loader import strategy_loader

    strategy_loader.add_directory(str(PROJECT / "plugins" / "strategy"))
    strategy = strategy_loader.get("mitogen_linear", class_only=True)
    assert any(base.__module__.startswith("ansible_mitogen.") for base in strategy.__mro__), strategy.__mro__


def test_a_run_with_mitogen_warns_about_nothing(tmp_path):
    done = run_play(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mitogen is not installed" not in done.stdout + done.stderr


def test_a_collection_module_runs_with_the_collections_listed_once(tmp_path):
    """The strategy lists the installed collections once per run instead of in
    each task's worker, through a hook of Mitogen's planner that must still
    exist; a collection's module that imports its collection's module_utils
    still runs."""
    import ansible_mitogen.planner

    assert callable(ansible_mitogen.planner._load_collections)
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(b"kept"))
    # A module that imports its collection's module_utils on the target.
    play = PLAY.replace("ansible.builtin.command: 'true'\n      changed_when: false",
                        f"community.general.decompress: {{src: {tmp_path}/notes.txt.gz}}")
    done = run_play(tmp_path, play=play)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "changed=1" in done.stdout, done.stdout
    assert (tmp_path / "notes.txt").read_bytes() == b"kept"


def test_without_mitogen_the_run_warns_and_uses_ansibles_linear_strategy(tmp_path):
    # A sitecustomize that makes `import ansible_mitogen` fail, as on a
    # controller where the package is not installed.
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['ansible_mitogen'] = None\n")
    done = run_play(tmp_path, {"PYTHONPATH": str(hide)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mitogen is not installed" in done.stdout + done.stderr
    assert "Ansible's linear strategy" in done.stdout + done.stderr


def test_module_utils_are_compiled_once_per_run_and_found_as_before(monkeypatch):
    """Mitogen's scan of which module_utils a module imports gives the same
    answer with the strategy's per-file cache, and a second module compiles
    only the files the first did not reach."""
    import ansible.module_utils
    import ansible.modules
    import ansible_mitogen.module_finder as finder
    from ansible.plugins.loader import strategy_loader

    strategy_loader.add_directory(str(PROJECT / "plugins" / "strategy"))
    plugin = sys.modules[strategy_loader.get("mitogen_linear", class_only=True).__module__]
    monkeypatch.setattr(plugin, "_compiled", {})
    monkeypatch.setattr(plugin, "_imports", {})
    assert finder.compile is plugin._compile_once
    assert finder.walk_imports is plugin._walk_imports_once

    search_path = (str(Path(ansible.module_utils.__file__).parent),)
    modules = {name: str(Path(ansible.modules.__file__).parent / f"{name}.py") for name in ("command", "copy")}
    cached = {name: finder.scan(name, path, search_path) for name, path in modules.items()}
    compiled = len(plugin._compiled)

    monkeypatch.setattr(finder, "compile", compile)
    monkeypatch.setattr(finder, "walk_imports", plugin._walk_imports)
    uncached = {name: finder.scan(name, path, search_path) for name, path in modules.items()}

    assert cached == uncached
    assert any(name == "ansible.module_utils.basic" for name, _, _ in cached["copy"])
    # Each module and each module_utils file it reaches, compiled once for both.
    reached = {origin for found in cached.values() for _, origin, _ in found} | set(modules.values())
    assert compiled == len(reached) < sum(len(found) + 1 for found in cached.values())
