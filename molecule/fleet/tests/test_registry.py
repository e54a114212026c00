"""Releases through a private image registry (app_registry): the first app
host pushes the image it built, the other pulls it, and both run the image
the registry holds; a rerun pushes nothing; a registry that refuses the
login stops the roll before any host switches. Runs after test_fleet.py,
on the release its last test left live."""

import json
import re
import subprocess

import pytest
from fleet import (
    assert_serves,
    image_id,
    live_release,
    task_hosts,
)

from stack import make_app, run_playbook

REPOSITORY = "flaskapp"
PASSWORD = "fleet-registry-password"
LOGIN = {"app_registry": f"registry:5000/{REPOSITORY}",
         "app_registry_username": "fleet", "app_registry_password": PASSWORD}
# A task ran (ok or changed) on these hosts, not only skipped.
RAN = "(?:ok|changed)"


def registry_api(path):
    """GET the registry's API from its own container, logged in; the answer's JSON."""
    answer = subprocess.run(
        ["docker", "exec", "fleet-registry", "curl", "-sS", "--fail", "--cacert", "/etc/registry/ca.crt",
         "-u", f"fleet:{PASSWORD}", "-H", "Accept: application/vnd.docker.distribution.manifest.v2+json",
         f"https://localhost:5000/v2/{REPOSITORY}/{path}"],
        check=True, capture_output=True, text=True).stdout
    return json.loads(answer)


def deploy(tmp_path_factory, name, version, **settings):
    src = make_app(tmp_path_factory.mktemp(name) / "app", version=version)
    return run_playbook("playbooks/deploy.yml", extra_vars={"app_src": str(src), **LOGIN, **settings})


@pytest.fixture(scope="module")
def release(tmp_path_factory, web):
    """A code change deployed through the registry: (release, output)."""
    rc, output = deploy(tmp_path_factory, "registry", "4.0.0")
    assert rc == 0, output[-3000:]
    return live_release(web[0]), output


def test_the_first_host_pushes_and_the_other_pulls(web, internet, release):
    name, output = release
    assert_serves(web, internet, name, "4.0.0")
    assert task_hosts(output, "Push the release image to the registry", "changed") == {"fleet-web1"}
    assert task_hosts(output, "Pull the release image", "changed") == {"fleet-web2"}
    # Nothing went through the controller.
    assert task_hosts(output, "Fetch the image to the controller", RAN) == set()
    # Each host names the image after its release only.
    for host in web:
        names = host.check_output("docker image ls --format '{{.Repository}}:{{.Tag}}'").split()
        assert f"flaskapp-app:{name}" in names, names
        assert not [n for n in names if n.startswith("registry:")], names


def test_both_hosts_run_the_image_the_registry_holds(web, release):
    name, _ = release
    assert name in registry_api("tags/list")["tags"]
    digest = registry_api(f"manifests/{name}")["config"]["digest"]
    assert {image_id(host, name) for host in web} == {digest}


def test_a_rerun_pushes_and_pulls_nothing(tmp_path_factory, release):
    rc, output = deploy(tmp_path_factory, "registry-again", "4.0.0")
    assert rc == 0, output[-3000:]
    assert task_hosts(output, "Push the release image to the registry", RAN) == set()
    assert task_hosts(output, "Pull the release image", RAN) == set()
    changed = re.findall(r"changed=(\d+)", output.rsplit("PLAY RECAP", 1)[-1])
    assert len(changed) >= 4 and set(changed) == {"0"}, output[-3000:]


def test_a_refused_login_stops_the_roll_before_any_host_switches(tmp_path_factory, web, internet, release):
    name, _ = release
    wrong = "not-the-registry-password"
    rc, output = deploy(tmp_path_factory, "registry-refused", "5.0.0", app_registry_password=wrong)
    assert rc != 0
    assert task_hosts(output, "Log in to the image registry", "fatal") == {"fleet-web1"}, output[-3000:]
    assert re.search("401|unauthorized", output, re.IGNORECASE), output[-3000:]
    assert wrong not in output
    # The roll stopped on the first host, before its switch: both serve the release they had.
    assert task_hosts(output, "Identify the release", "ok") == {"fleet-web1"}
    assert_serves(web, internet, name, "4.0.0")
