"""The README's first command, `make demo`, as a new user runs it: a local
VPS container set up from nothing, the app answering on its port, and a
second run that changes nothing. It runs its own VPS (its own name and
ports), so a demo already running here is left alone."""

import os
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = {"DEMO_NAME": "vps-demo-test", "DEMO_PORT": "18080", "DEMO_SSH_PORT": "12222"}


def demo(action, command=None):
    env = {**os.environ, **DEMO, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    # A make of its own, not a job of the make that runs the tests.
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    done = subprocess.run(command or ["scripts/demo.sh", action], cwd=REPO, env=env, check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-6000:]
    return done.stdout


def recaps(output):
    """The `changed` count of every PLAY RECAP line for the VPS (its inventory
    name is vps-demo whatever the container is called)."""
    return [int(n) for n in re.findall(r"^vps-demo\s+: ok=\d+\s+changed=(\d+)", output, re.MULTILINE)]


@pytest.fixture(scope="module")
def first_run():
    demo("down")  # left over from a killed run
    try:
        yield demo("up")
    finally:
        demo("down")


def test_first_run_sets_up_the_vps_and_serves_the_app(first_run):
    # The handover, then site.yml twice (as root, then as the deploy user).
    assert len(recaps(first_run)) == 3, first_run[-3000:]
    with urllib.request.urlopen(f"http://127.0.0.1:{DEMO['DEMO_PORT']}/", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Server"] == "nginx"
        assert 'id="version">1.0.0<' in response.read().decode()


def test_second_run_changes_nothing(first_run):
    """The whole `make demo` again, images included. Reproduction: the
    second run rebuilt the nginx and PostgreSQL images with new ids
    (parallel builds racing on Docker's layer cache), rewrote their archives
    and reported changed=1 ("Copy base image archives")."""
    output = demo("up", ["make", "--no-print-directory", "demo"])
    assert recaps(output) == [0, 0], output[-3000:]
