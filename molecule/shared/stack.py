"""Helpers shared by the Molecule scenarios' testinfra tests.

Requests are made from inside the VPS with its own python3 (which Ansible
needs anyway), so the tests see exactly what a client on the VPS sees.
"""

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[2]))
SAMPLE_APP = PROJECT_DIR / "files" / "app"

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


def copy_sample_app(destination, version):
    """A copy of the sample app that reports a different version."""
    shutil.copytree(SAMPLE_APP, destination, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    init = Path(destination) / "flaskapp" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "1.0.0"', f'__version__ = "{version}"'))
    return Path(destination)


def run_playbook(*extra_args, playbook=None):
    """Run a playbook against this scenario's VPS, as `molecule converge` does."""
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    command = [
        "ansible-playbook",
        "-i", os.environ["MOLECULE_INVENTORY_FILE"],
        str(playbook or scenario / "converge.yml"),
        *extra_args,
    ]
    return subprocess.run(command, capture_output=True, text=True, check=False)
