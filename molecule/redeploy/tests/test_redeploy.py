"""Redeploys under load, in order: code change, dependency change, refused
releases, rollback, one-off command, persistent data. Each step runs the real
playbooks against the VPS while clients inside it hit port 80."""

import json
import re

import pytest

from load import Load
from stack import make_app, recap, run_playbook

CONTAINER = "redeploy-vps"
ROOT = "/srv/flaskapp"
MARKER = f"{ROOT}/data/written-before-the-deploys.txt"


def http_json(host, port, path="/api/client"):
    out = host.check_output(f"curl -sS -D- http://127.0.0.1:{port}{path}")
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    return head, json.loads(body)


def history(host):
    return [line.split() for line in host.file(f"{ROOT}/history").content_string.splitlines()]


def live_release(host):
    return history(host)[-1][2]


def app_containers(host):
    return host.check_output("docker ps -a --filter label=flask-vps.app=flaskapp --format '{{.Names}}'").split()


def assert_serves(host, release, version):
    for port in (80, 8000):
        head, body = http_json(host, port)
        assert body["release"] == release, (port, body)
        assert body["version"] == version, (port, body)
        server = "nginx" if port == 80 else "gunicorn"
        assert re.search(rf"^Server: {server}", head, re.MULTILINE | re.IGNORECASE), head
    assert app_containers(host) == [f"flaskapp-app-{release}"]


def assert_no_failures(load):
    result = load.result
    print("load:", result)
    assert result["requests"] > 50, result
    assert result["non_2xx"] == 0, result
    assert result["errors"] == 0, result


def deploy(tmp_path_factory, name, extra=None, **changes):
    src = make_app(tmp_path_factory.mktemp(name) / "app", **changes)
    extra_vars = {"app_src": str(src), **(extra or {})}
    with Load(CONTAINER) as load:
        rc, output = run_playbook("playbooks/deploy.yml", extra_vars=extra_vars)
    load.src = src
    return rc, output, load


@pytest.fixture(scope="module")
def releases():
    """Release ids by name, filled in as the steps run."""
    return {}


def test_first_deploy_is_live_on_both_ports(host, releases):
    releases["first"] = live_release(host)
    assert_serves(host, releases["first"], "1.0.0")
    # The release command created the schema before the release went live.
    assert http_json(host, 80, "/api/notes")[1] == {"count": 0}
    # A file in the data directory, written as the app's user before any redeploy.
    host.check_output(f"printf 'keep me' > {MARKER} && chown 10001:10001 {MARKER}")


def test_code_change_switches_without_a_failed_request(host, tmp_path_factory, releases):
    rc, output, load = deploy(tmp_path_factory, "code", version="2.0.0")
    assert rc == 0, output
    releases["code"] = live_release(host)
    assert releases["code"] != releases["first"]
    assert f"Deploying release {releases['code']}" in output
    assert_no_failures(load)
    # The load saw the old release, then the new one.
    assert set(load.result["releases"]) == {releases["first"], releases["code"]}
    assert_serves(host, releases["code"], "2.0.0")
    assert [entry[1:] for entry in history(host)] == [
        ["deploy", releases["first"]], ["deploy", releases["code"]]]
    # Deploying the same code again changes and restarts nothing.
    started = host.check_output(f"docker inspect -f '{{{{.State.StartedAt}}}}' flaskapp-app-{releases['code']}")
    rc, output = run_playbook("playbooks/deploy.yml", extra_vars={"app_src": str(load.src)})
    assert rc == 0, output
    assert recap(output)["changed"] == 0, output
    assert host.check_output(f"docker inspect -f '{{{{.State.StartedAt}}}}' flaskapp-app-{releases['code']}") == started


def test_dependency_change_builds_a_new_image_without_a_failed_request(host, tmp_path_factory, releases):
    rc, output, load = deploy(
        tmp_path_factory, "deps", version="3.0.0", requirements=["six==1.17.0"],
        extra={"app_keep_releases": 2})
    assert rc == 0, output
    releases["deps"] = live_release(host)
    assert_no_failures(load)
    assert_serves(host, releases["deps"], "3.0.0")
    host.check_output(f"docker exec flaskapp-app-{releases['deps']} python -c 'import six'")
    # Only the last two releases are kept: the first one is pruned.
    kept = host.check_output(f"ls {ROOT}/releases").split()
    assert sorted(kept) == sorted([releases["code"], releases["deps"]])
    images = host.check_output("docker images flaskapp-app --format '{{.Tag}}'").split()
    assert sorted(images) == sorted(kept)


def refused(host, tmp_path_factory, name, reason, extra=None, **changes):
    rc, output, load = deploy(tmp_path_factory, name, extra=extra, version="4.0.0", **changes)
    assert rc != 0, output
    release = re.search(r"Deploying release (\w+)", output).group(1)
    assert f"Release {release} of flaskapp refused: {reason}" in output
    assert f"The live release {live_release(host)} keeps serving." in output
    assert_no_failures(load)
    # Nothing of the refused release runs; the previous one serves untouched.
    assert all(release not in name for name in app_containers(host))
    return output, load


def test_release_that_fails_to_import_is_refused(host, tmp_path_factory, releases):
    output, load = refused(host, tmp_path_factory, "broken", "its container crashed on start",
                           extra={"app_release_command": []}, broken_import=True)
    assert "ModuleNotFoundError: No module named 'no_such_module'" in output
    assert set(load.result["releases"]) == {releases["deps"]}
    assert_serves(host, releases["deps"], "3.0.0")


def test_release_whose_release_command_fails_is_refused(host, tmp_path_factory, releases):
    output, _ = refused(host, tmp_path_factory, "broken-command", "its release command failed",
                           broken_import=True)
    assert "No module named 'no_such_module'" in output
    assert_serves(host, releases["deps"], "3.0.0")


def test_release_failing_its_health_check_is_refused(host, tmp_path_factory, releases):
    output, load = refused(host, tmp_path_factory, "unhealthy", "its health check on /healthz did not pass",
                           healthz_status=500)
    # The app's access log shows the failing checks.
    assert '"GET /healthz HTTP/1.1" 500' in output
    assert set(load.result["releases"]) == {releases["deps"]}
    assert_serves(host, releases["deps"], "3.0.0")


def test_rollback_returns_to_the_previous_release_without_a_failed_request(host, releases):
    images_before = host.check_output("docker images -q --no-trunc flaskapp-app | sort -u")
    with Load(CONTAINER) as load:
        rc, output = run_playbook("playbooks/rollback.yml")
    assert rc == 0, output
    assert_no_failures(load)
    assert set(load.result["releases"]) == {releases["deps"], releases["code"]}
    assert_serves(host, releases["code"], "2.0.0")
    assert history(host)[-1][1:] == ["rollback", releases["code"]]
    # Nothing was rebuilt.
    assert host.check_output("docker images -q --no-trunc flaskapp-app | sort -u") == images_before


def test_rollback_to_a_named_release(host, releases):
    with Load(CONTAINER) as load:
        rc, output = run_playbook("playbooks/rollback.yml", extra_vars={"release": releases["deps"]})
    assert rc == 0, output
    assert_no_failures(load)
    assert_serves(host, releases["deps"], "3.0.0")
    # Rolling back to a pruned release is refused and changes nothing.
    rc, output = run_playbook("playbooks/rollback.yml", extra_vars={"release": releases["first"]})
    assert rc != 0
    assert f"Release {releases['first']} of flaskapp is not on the VPS" in output
    assert_serves(host, releases["deps"], "3.0.0")


def test_one_off_command_runs_in_the_live_release(host):
    rc, output = run_playbook("playbooks/run.yml", extra_vars={"cmd": "flask --app wsgi add-note 'written by a one-off command'"})
    assert rc == 0, output
    assert "notes: 1" in output
    assert http_json(host, 80, "/api/notes")[1] == {"count": 1}
    rc, output = run_playbook("playbooks/run.yml", extra_vars={"cmd": "python -c 'import six; print(six.__version__)'"})
    assert rc == 0 and "1.17.0" in output, output
    # A failing command fails the play and shows its exit code.
    rc, output = run_playbook("playbooks/run.yml", extra_vars={"cmd": "false"})
    assert rc != 0
    assert "exited with code 1" in output


def test_data_written_before_the_deploys_is_still_there(host):
    marker = host.file(MARKER)
    assert marker.exists
    assert marker.content_string == "keep me"
    assert host.file(f"{ROOT}/data/app.db").uid == 10001
    assert http_json(host, 80, "/api/notes")[1] == {"count": 1}
