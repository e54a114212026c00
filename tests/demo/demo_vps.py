"""The demo of this suite, as a new user gets it: a copy of this checkout's
files with nothing built (no virtualenv, no image archive, no SSH key), and a
Docker engine of its own with no image at all (lab/scripts/empty-engine.sh).
Its VPS has a name and ports of its own, so that a demo already running here
is left alone, and the other suites keep the machine's engine and images."""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECKOUT = Path(tempfile.gettempdir()) / "flask-vps-demo-test"
DEMO = {"DEMO_NAME": "vps-demo-test", "DEMO_PORT": "18080", "DEMO_SSH_PORT": "12222"}
ENGINE = REPO / "lab" / "scripts" / "empty-engine.sh"


def engine(action):
    """Start the empty engine (its DOCKER_HOST) or remove it with all it held."""
    done = subprocess.run([ENGINE, action], check=False, text=True, timeout=300,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert done.returncode == 0, done.stdout
    return done.stdout.strip().splitlines()[-1] if action == "up" else None


def copy_checkout():
    """This checkout's files, committed or not, as a fresh clone would have them."""
    shutil.rmtree(CHECKOUT, ignore_errors=True)
    CHECKOUT.mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, check=True, stdout=subprocess.PIPE).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = REPO / name
        if source.is_file():  # (a deleted file still listed by the index)
            (CHECKOUT / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, CHECKOUT / name)


def demo(docker_host, command):
    env = {**os.environ, **DEMO, "DOCKER_HOST": docker_host, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    # The new user's own make and virtualenv, not those running the tests.
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV"):
        env.pop(name, None)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(REPO)))
    done = subprocess.run(command, cwd=CHECKOUT, env=env, check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-6000:]
    return done.stdout


def images(docker_host):
    listed = subprocess.run(["docker", "-H", docker_host, "images", "--format", "{{.Repository}}:{{.Tag}}"],
                            check=True, text=True, stdout=subprocess.PIPE).stdout
    return sorted(listed.split())


def recaps(output):
    """The `changed` count of every PLAY RECAP line for the VPS (its inventory
    name is vps-demo whatever the container is called)."""
    return [int(n) for n in re.findall(r"^vps-demo\s+: ok=\d+\s+changed=(\d+)", output, re.MULTILINE)]
