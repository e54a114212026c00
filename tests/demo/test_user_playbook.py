"""The second way to use the project (README: Use it as a collection): build
the collection, install the tarball into an empty directory, and deploy the
demo VPS from a directory of the user's own, outside the repository, whose
playbook names only flask_vps.stack's roles. Runs after test_demo.py, on its
VPS (the shared fixture), and deploys the user's own copy of the app."""

import os
import re
import shutil
import subprocess
import textwrap
import urllib.request

import pytest

from demo_vps import CHECKOUT, DEMO, REPO, recaps


def run(argv, cwd, env=None):
    done = subprocess.run(argv, cwd=cwd, env=env, check=False, text=True, timeout=900,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert done.returncode == 0, done.stdout[-6000:]
    return done.stdout


@pytest.fixture(scope="module")
def user_dir(first_run, tmp_path_factory):
    """The collection built and installed into an empty directory, and a user's
    directory: ansible.cfg, an inventory of the demo VPS, a playbook, an app."""
    tmp = tmp_path_factory.mktemp("user")
    built = run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp / "dist"), str(REPO)], cwd=tmp)
    assert "WARNING" not in built, built
    tarball = next((tmp / "dist").glob("flask_vps-stack-*.tar.gz"))
    installed = run(["ansible-galaxy", "collection", "install", str(tarball), "-p", str(tmp / "collections")], cwd=tmp)
    assert "flask_vps.stack:" in installed and "was installed successfully" in installed, installed

    user = tmp / "mysite"
    shutil.copytree(REPO / "files" / "app", user / "app", ignore=shutil.ignore_patterns("tests", "__pycache__"))
    version = user / "app" / "flaskapp" / "__init__.py"
    version.write_text(version.read_text().replace('__version__ = "1.0.0"', '__version__ = "1.1.0-mine"'))
    (user / "ansible.cfg").write_text(textwrap.dedent(f"""\
        [defaults]
        collections_path = {tmp / "collections"}:~/.ansible/collections
        [ssh_connection]
        pipelining = true
        """))
    ssh = CHECKOUT / ".cache" / "ssh"  # the key `make demo` made
    (user / "inventory.yml").write_text(textwrap.dedent(f"""\
        vps:
          hosts:
            vps-demo:
              ansible_host: 127.0.0.1
              ansible_port: {DEMO["DEMO_SSH_PORT"]}
              ansible_user: deploy
              ansible_ssh_private_key_file: {ssh / "id_ed25519"}
              ansible_ssh_common_args: -o UserKnownHostsFile={ssh / "known_hosts"}
          vars:
            app_src: "{{{{ playbook_dir }}}}/app"
            # The base images make demo loaded on the VPS.
            app_python_image: flask-vps/python:3.13-slim
            app_nginx_image: flask-vps/nginx:1.26
            app_nginx_user: www-data
        """))
    (user / "deploy.yml").write_text(textwrap.dedent("""\
        - name: Deploy my Flask app
          hosts: vps
          become: true
          gather_facts: false
          roles:
            - role: flask_vps.stack.app
        """))
    return user


def user_env(user):
    """The user's own settings only: none of the repository's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return {**env, "ANSIBLE_CONFIG": str(user / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}


def test_the_installed_collection_deploys_the_users_app_and_a_rerun_changes_nothing(user_dir):
    first = run(["ansible-playbook", "-i", "inventory.yml", "deploy.yml"], cwd=user_dir, env=user_env(user_dir))
    assert recaps(first)[-1] > 0, first[-3000:]
    # The roles and their plugins came from the installed tarball, not the repository.
    collection = user_dir.parent / "collections" / "ansible_collections" / "flask_vps" / "stack"
    assert f"included: {collection}/roles/app/tasks/" in first, first[-3000:]
    assert str(REPO / "roles") not in first
    with urllib.request.urlopen(f"http://127.0.0.1:{DEMO['DEMO_PORT']}/", timeout=10) as response:
        assert 'id="version">1.1.0-mine<' in response.read().decode()

    again = run(["ansible-playbook", "-i", "inventory.yml", "deploy.yml"], cwd=user_dir, env=user_env(user_dir))
    assert recaps(again) == [0], again[-3000:]


def test_the_collections_site_playbook_resolves_from_the_installed_collection(user_dir):
    """`ansible-playbook flask_vps.stack.site`: the collection's playbooks and
    the roles, plugins and vars files they name, all from the tarball."""
    listed = run(["ansible-playbook", "-i", "inventory.yml", "--list-tasks", "flask_vps.stack.site"],
                 cwd=user_dir, env=user_env(user_dir))
    for play in ("Check inputs and hosts before any change", "Provision the VPS", "Deploy the Flask stack"):
        assert re.search(rf"play #\d+ \(vps[^)]*\): {play}", listed), listed[-3000:]
    assert "preflight : Validate the variables against each role's argument specs" in listed
