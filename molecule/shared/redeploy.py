"""Helpers shared by the redeploy tests and benchmarks/redeploy.py: load a
VPS container from inside while a playbook or command runs, run playbooks,
make modified copies of the sample app."""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
SAMPLE_APP = PROJECT_DIR / "files" / "app"
LOADGEN = Path(__file__).with_name("loadgen.py")


class Load:
    """A bounded load generator running inside `container` for the length of
    a `with` block; `.result` holds its counts afterwards."""

    def __init__(self, container, url="http://127.0.0.1/api/client", clients=4, max_seconds=600):
        self.argv = [
            "docker", "exec", "-i", container, "python3", "-c", LOADGEN.read_text(),
            "--url", url, "--clients", str(clients), "--max-seconds", str(max_seconds),
        ]
        self.result = None

    def __enter__(self):
        self.process = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        # Wait until the clients run, so the load covers the whole block.
        line = self.process.stderr.readline()
        assert "started" in line, line
        time.sleep(1)
        return self

    def __exit__(self, *exc):
        time.sleep(1)
        out, err = self.process.communicate("", timeout=120)
        assert self.process.returncode == 0, err
        self.result = json.loads(out)
        return False


def run_playbook(playbook, inventory, extra_vars=None, check=False):
    """ansible-playbook from the project directory; returns (rc, output)."""
    argv = ["ansible-playbook", "-i", str(inventory), str(PROJECT_DIR / playbook)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    # Plain output, whatever Molecule asked for, so it can be read back.
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "PY_COLORS": "0"}
    started = time.monotonic()
    done = subprocess.run(argv, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = done.stdout
    print(f"$ {' '.join(argv)}  ({time.monotonic() - started:.1f} s, rc {done.returncode})\n{output[-6000:]}")
    if check:
        assert done.returncode == 0, output[-6000:]
    return done.returncode, output


def recap(output):
    """The PLAY RECAP counters of the last play, e.g. {'ok': 40, 'changed': 3, ...}."""
    output = re.sub(r"\x1b\[[0-9;]*m", "", output)
    lines = [line for line in output.splitlines() if re.search(r"\bok=\d+", line)]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", lines[-1])}


def make_app(dest, version=None, requirements=(), broken_import=False, healthz_status=None):
    """A copy of the sample app in `dest`, changed as asked."""
    dest = Path(dest)
    shutil.copytree(SAMPLE_APP, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    package = dest / "flaskapp" / "__init__.py"
    source = package.read_text()
    if version:
        source = re.sub(r'__version__ = "[^"]*"', f'__version__ = "{version}"', source)
    if broken_import:
        source = source.replace("import os\n", "import os\nimport no_such_module  # noqa: F401\n", 1)
    if healthz_status:
        source = source.replace('return jsonify(status="ok")', f'return jsonify(status="failing"), {healthz_status}')
    package.write_text(source)
    if requirements:
        with open(dest / "requirements.txt", "a") as handle:
            handle.write("".join(f"{line}\n" for line in requirements))
    return dest


def molecule_inventory():
    """The inventory Molecule wrote for the scenario (with its group_vars)."""
    return Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
