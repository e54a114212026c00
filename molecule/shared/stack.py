"""Helpers shared by the Molecule scenarios' tests and the benchmarks: HTTP
requests from inside the VPS, the VPS's docker CLI, playbook runs, modified
copies of the sample app.

Requests are made from inside the VPS with its own python3 (which Ansible
needs anyway), so the tests see exactly what a client on the VPS sees.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

PROJECT_DIR = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[2]))
SAMPLE_APP = PROJECT_DIR / "files" / "app"

# How a VPS container runs, defined once for Molecule, the demo, the
# preflight suite and the benchmarks.
VPS_CONTAINER = yaml.safe_load(Path(__file__).with_name("vps-container.yml").read_text())


def vps_run_args(docker_volume=None):
    """`docker run` options of a VPS container; the inner Docker's data in the
    named volume `docker_volume` (kept across restarts) instead of an
    anonymous one."""
    spec = VPS_CONTAINER
    args = [*(arg for cap in spec["capabilities"] for arg in ("--cap-add", cap)),
            *(arg for opt in spec["security_opts"] for arg in ("--security-opt", opt)),
            "--cgroupns", spec["cgroupns_mode"],
            *(arg for path in spec["tmpfs"] for arg in ("--tmpfs", path))]
    for volume in spec["volumes"]:
        if docker_volume and volume == "/var/lib/docker":
            volume = f"{docker_volume}:{volume}"
        args += ["-v", volume]
    return args


VPS_RUN_ARGS = vps_run_args()
VPS_COMMAND = VPS_CONTAINER["command"].split()

_REQUEST = r"""
import base64, http.client, json, sys
url = json.loads(sys.argv[1])
conn = http.client.HTTPConnection(url["host"], url["port"], timeout=15)
conn.request(url["method"], url["path"], body=url["body"], headers=url["headers"])
resp = conn.getresponse()
print(json.dumps({
    "status": resp.status,
    "headers": [[k.lower(), v] for k, v in resp.getheaders()],
    "body": base64.b64encode(resp.read()).decode(),
}))
"""


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    @property
    def text(self):
        return self.body.decode()

    def json(self):
        return json.loads(self.body)


def http(host, port, path, method="GET", headers=None, body=None, address="127.0.0.1"):
    """Send one HTTP request from inside the VPS and return the answer."""
    request = {"host": address, "port": port, "path": path, "method": method,
               "headers": headers or {}, "body": body}
    result = host.run("python3 -c %s %s", _REQUEST, json.dumps(request))
    assert result.rc == 0, f"request to {address}:{port}{path} failed: {result.stderr}"
    data = json.loads(result.stdout)
    return Response(data["status"], dict(data["headers"]), base64.b64decode(data["body"]))


def docker(host, *args):
    """Run the VPS's own docker CLI and return its stdout."""
    result = host.run("docker " + " ".join(["%s"] * len(args)), *args)
    assert result.rc == 0, f"docker {' '.join(args)} failed: {result.stderr}"
    return result.stdout


def wait_for_boot(container, timeout=90):
    """Wait until systemd in a VPS container has finished booting."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = subprocess.run(["docker", "exec", container, "systemctl", "is-system-running"],
                               capture_output=True, text=True, check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    raise RuntimeError(f"{container}: systemd did not finish booting (state {state!r})")


def start_vps(name, *options, image="flask-vps/vps:13", boot_timeout=120):
    """Start a VPS container called `name` (replacing any of that name) from
    `image` with the shared settings and the extra `docker run` `options`
    (networks, published ports), and wait until its systemd has booted."""
    subprocess.run(["docker", "rm", "--force", "--volumes", name], capture_output=True, check=False)
    started = subprocess.run(["docker", "run", "--detach", "--name", name, "--hostname", name,
                              *VPS_RUN_ARGS, *options, image, *VPS_COMMAND],
                             capture_output=True, text=True, check=False)
    if started.returncode != 0:
        raise RuntimeError(f"{name}: docker run failed: {started.stderr}")
    wait_for_boot(name, timeout=boot_timeout)


def make_app(dest, version=None, requirements=(), broken_import=False, healthz_status=None, static_files=None):
    """A copy of the sample app in `dest`, changed as asked; static_files:
    more files of its static folder (relative path -> text)."""
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
    for name, text in (static_files or {}).items():
        path = dest / "flaskapp" / "static" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if requirements:
        with open(dest / "requirements.txt", "a") as handle:
            handle.write("".join(f"{line}\n" for line in requirements))
    return dest


def molecule_inventory():
    """The inventory Molecule wrote for the scenario (with its group_vars)."""
    return Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent


def start_playbook(playbook, inventory=None, extra_vars=None, args=()):
    """ansible-playbook from the project directory, against the scenario's VPS
    unless another inventory is given, with more arguments if any (--check,
    --tags ...), started in its own process group; returns the Popen."""
    argv = ["ansible-playbook", "-i", str(inventory or molecule_inventory()), str(PROJECT_DIR / playbook), *args]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    # Plain output, whatever Molecule asked for, so it can be read back.
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "PY_COLORS": "0"}
    process = subprocess.Popen(argv, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    process.argv = argv
    return process


def finish_playbook(process, started=None, check=False):
    """Wait for a playbook started by start_playbook; returns (rc, output)."""
    started = started or time.monotonic()
    output, _ = process.communicate()
    print(f"$ {' '.join(process.argv)}  ({time.monotonic() - started:.1f} s, rc {process.returncode})\n{output[-6000:]}")
    if check:
        assert process.returncode == 0, output[-6000:]
    return process.returncode, output


def run_playbook(playbook, inventory=None, extra_vars=None, check=False, args=()):
    """Run a playbook as start_playbook does and wait for it; returns (rc, output)."""
    started = time.monotonic()
    return finish_playbook(start_playbook(playbook, inventory, extra_vars, args), started, check)


def recap(output):
    """The PLAY RECAP counters of the last play, e.g. {'ok': 40, 'changed': 3, ...}."""
    output = re.sub(r"\x1b\[[0-9;]*m", "", output)
    lines = [line for line in output.splitlines() if re.search(r"\bok=\d+", line)]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", lines[-1])}


if __name__ == "__main__":
    # For lab/scripts/demo.sh, one word per line: `stack.py vps-run-args
    # [DOCKER_VOLUME]` prints the `docker run` options, `stack.py vps-command`
    # the command.
    import sys

    if sys.argv[1:2] == ["vps-run-args"]:
        print("\n".join(vps_run_args(*sys.argv[2:3])))
    elif sys.argv[1:2] == ["vps-command"]:
        print("\n".join(VPS_COMMAND))
    else:
        sys.exit("usage: stack.py vps-run-args [DOCKER_VOLUME] | vps-command")
