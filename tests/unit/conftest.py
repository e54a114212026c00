"""Shared fixtures of the unit tests."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
# The ansible-playbook of the interpreter running the tests (the venv's).
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

PREFLIGHT_SETTINGS = """
- hosts: localhost
  gather_facts: false
  vars_files: [{layout}]
  tasks:
    - ansible.builtin.include_role:
        name: preflight
        tasks_from: settings.yml
    - ansible.builtin.copy:
        content: "{{{{ {{'roles': __preflight_role_settings | list, 'settings': __preflight_settings}} | to_json }}}}"
        dest: "{{{{ out }}}}"
"""


def preflight_settings(tmp_path, *args):
    """What preflight collects from every role's validate entry point, run on
    the controller: {roles: [names], settings: {name: value}}."""
    playbook = tmp_path / "preflight.yml"
    playbook.write_text(PREFLIGHT_SETTINGS.format(layout=PROJECT / "playbooks" / "vars" / "layout.yml"),
                        encoding="utf-8")
    out = tmp_path / "collected.json"
    subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", str(playbook), "-e", f"out={out}", *args],
                   cwd=PROJECT, capture_output=True, text=True, check=True)
    return json.loads(out.read_text())


@pytest.fixture(scope="session")
def role_defaults(tmp_path_factory):
    """Every role's settings with nothing set: the defaults as the roles see them."""
    return preflight_settings(tmp_path_factory.mktemp("defaults"))["settings"]
