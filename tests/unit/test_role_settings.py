"""Each role hands preflight its inputs as that role will see them
(roles/*/tasks/validate.yml, plugins/lookup/role_settings.py): its own
defaults, templates resolved, under the inventory and extra vars."""

import json
import subprocess
from pathlib import Path

from conftest import ANSIBLE_PLAYBOOK, PROJECT, preflight_settings

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    app_name: shop
  tasks:
    - ansible.builtin.include_role:
        name: "{{ item }}"
        tasks_from: validate.yml
      loop: [app, firewall, balancer]
    - ansible.builtin.set_fact:
        preflight_role_settings: "{{ {'app': app_preflight_settings, 'firewall': firewall_preflight_settings, 'balancer': balancer_preflight_settings} }}"
    - ansible.builtin.copy:
        content: "{{ preflight_role_settings | to_json }}"
        dest: "{{ out }}"
"""


def role_settings(tmp_path, *args):
    playbook = tmp_path / "playbook.yml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    out = tmp_path / "settings.json"
    subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", str(playbook),
                    "-e", f"out={out}", *args], cwd=PROJECT, capture_output=True, text=True, check=True)
    return json.loads(out.read_text())


def test_defaults_that_are_templates_resolve_with_the_values_set(tmp_path):
    settings = role_settings(tmp_path, "-e", '{"sshd_port": 2222, "app_http_port": 8080}')
    assert set(settings) == {"app", "firewall", "balancer"}
    app = settings["app"]
    # A play variable over the default, and the defaults derived from it.
    assert (app["app_name"], app["app_root"], app["app_data_dir"]) == ("shop", "/srv/shop", "/srv/shop/data")
    assert Path(app["app_src"]).resolve() == PROJECT / "files" / "app"
    assert app["app_http_port"] == 8080
    # Another role's default that follows a setting of its own role or of another one.
    assert settings["firewall"]["firewall_ssh_port"] == 2222
    assert settings["balancer"]["balancer_backend_port"] == 8080
    # Only the inputs each role documents, no private variable.
    assert all(name.startswith("firewall_") for name in settings["firewall"])
    assert not [name for name in app if name.startswith("__")]


def test_extra_vars_win_over_play_vars(tmp_path):
    app = role_settings(tmp_path, "-e", "app_name=blog")["app"]
    assert (app["app_name"], app["app_root"]) == ("blog", "/srv/blog")



def test_preflight_collects_every_role_that_has_a_validate_entry_point(tmp_path):
    collected = preflight_settings(tmp_path, "-e", "app_name=shop")
    with_entry_point = sorted(path.parents[1].name for path in (PROJECT / "roles").glob("*/tasks/validate.yml"))
    assert collected["roles"] == with_entry_point
    assert {"app", "docker", "firewall", "sshd", "backup"} <= set(with_entry_point)
    assert collected["settings"]["app_root"] == "/srv/shop"
    assert collected["settings"]["docker_install_from"] == "docker"
