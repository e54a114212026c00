"""Tags select one concern; the login check and preflight always run."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
# The ansible-playbook of the interpreter running the tests (the venv's).
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def roles_run(*args):
    listing = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "site.yml", "--list-tasks", *args],
        cwd=PROJECT, capture_output=True, text=True, check=True,
    ).stdout
    # Every role checks its arguments whatever the tags (Ansible tags that
    # task "always"): count the roles that run a task of their own.
    tasks = [line for line in listing.splitlines() if "Validating arguments against arg spec" not in line]
    roles = set(re.findall(r"^\s+(\w+) : ", "\n".join(tasks), re.MULTILINE))
    login = "Check whether the configured user can log in" in listing
    return roles, login


@pytest.mark.parametrize(("args", "expected"), [
    # (--list-tasks lists the multi-host layout's plays too, with no host.)
    ((), {"preflight", "base", "alerts", "deploy_user", "sshd", "firewall", "docker", "app", "balancer"}),
    (("--tags", "alerts"), {"preflight", "alerts"}),
    (("--tags", "firewall"), {"preflight", "firewall"}),
    (("--tags", "ssh"), {"preflight", "deploy_user", "sshd"}),
    (("--tags", "app"), {"preflight", "app", "balancer"}),
    (("--skip-tags", "docker,app"), {"preflight", "base", "alerts", "deploy_user", "sshd", "firewall"}),
])
def test_tags_select_roles(args, expected):
    roles, login = roles_run(*args)
    assert roles == expected
    assert login
