"""The sshd role on a Debian 13 VPS container (the stack's VPS image, with
systemd), reached through Docker: root login never re-opens because one
run could not confirm the admin user's login."""

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "flask-vps/vps:13"
# The virtualenv's own, whatever PATH says.
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
PLAY = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: sshd
      vars:
        sshd_admin_user: {admin}
"""


@pytest.fixture(scope="module")
def vps(tmp_path_factory):
    name = f"flask-vps-sshd-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "--detach", "--name", name, "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
                    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                    "--cgroupns", "host", "--volume", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                    "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp", IMAGE], check=True, capture_output=True)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "exec", name, "systemctl", "is-system-running"], capture_output=True,
                             text=True, check=False).stdout.strip() not in ("running", "degraded"):
            assert time.monotonic() < deadline, "systemd did not boot"
            time.sleep(0.5)
        yield name
    finally:
        subprocess.run(["docker", "rm", "--force", "--volumes", name], check=False, capture_output=True)


def run_role(vps, tmp_path, admin):
    (tmp_path / "play.yml").write_text(PLAY.format(admin=admin))
    done = subprocess.run([ANSIBLE_PLAYBOOK, "-i", f"{vps},", "-c", "community.docker.docker", str(tmp_path / "play.yml")],
                          cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    return done.stdout


def root_login(vps):
    return subprocess.run(["docker", "exec", vps, "sshd", "-T"], capture_output=True, text=True,
                          check=True).stdout.split("permitrootlogin ")[1].split()[0]


def test_a_failed_admin_login_check_never_reopens_a_closed_root_login(vps, tmp_path):
    """Reproduction: a one-off failure of the admin user's fresh-login check
    (a network error) made the next run write PermitRootLogin
    prohibit-password over an earlier run's `no`. The check fails here for
    real: the admin user it logs in as does not exist."""
    run_role(vps, tmp_path, "nosuchuser")
    assert root_login(vps) == "without-password"  # never confirmed: key-only, as on a fresh VPS
    # An earlier run that confirmed the admin user closed root login.
    subprocess.run(["docker", "exec", vps, "sed", "-i", "s/^PermitRootLogin .*/PermitRootLogin no/",
                    "/etc/ssh/sshd_config"], check=True)
    output = run_role(vps, tmp_path, "nosuchuser")
    assert "root login stays as an earlier run left it (no)" in output
    assert root_login(vps) == "no"
