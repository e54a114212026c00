"""The demo VPS of this suite: `make demo`'s container under a name and ports
of its own, so that a demo already running here is left alone."""

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO = {"DEMO_NAME": "vps-demo-test", "DEMO_PORT": "18080", "DEMO_SSH_PORT": "12222"}


def demo(action, command=None):
    env = {**os.environ, **DEMO, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    # A make of its own, not a job of the make that runs the tests.
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(name, None)
    done = subprocess.run(command or ["lab/scripts/demo.sh", action], cwd=REPO, env=env, check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-6000:]
    return done.stdout


def recaps(output):
    """The `changed` count of every PLAY RECAP line for the VPS (its inventory
    name is vps-demo whatever the container is called)."""
    return [int(n) for n in re.findall(r"^vps-demo\s+: ok=\d+\s+changed=(\d+)", output, re.MULTILINE)]
