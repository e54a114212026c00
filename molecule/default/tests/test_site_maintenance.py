"""Maintenance mode, the release's own error pages and static files that
survive a switch, on the VPS the other tests leave serving (it runs last).
Requests come from inside the VPS: to 127.0.0.1 (a client like any other)
and to the VPS's own address (the client app_maintenance_allowed_addresses
lets through)."""

import json
import re
import subprocess
import time

import pytest

from load import Load, assert_no_failures
from stack import finish_playbook, make_app, recap, run_playbook, start_playbook

CONTAINER = "flask-vps-default"
ROOT = "/srv/flaskapp"
OLD_ASSET = "/static/assets/old-3f9a.css"
NEW_ASSET = "/static/assets/new-7c2e.css"


def get(path, address="127.0.0.1"):
    """(status, headers, body) of a GET from inside the VPS."""
    out = subprocess.run(["docker", "exec", CONTAINER, "curl", "-sS", "-i", f"http://{address}{path}"],
                         capture_output=True, text=True, check=True).stdout
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def live_release(host):
    return host.file(f"{ROOT}/history").content_string.splitlines()[-1].split()[2]


def ledger(host):
    return [json.loads(line) for line in host.file(f"{ROOT}/ledger.jsonl").content_string.splitlines()]


def assert_in_maintenance(release_page=True):
    status, headers, body = get("/")
    assert status == 503, (status, body)
    assert headers.get("retry-after") == "300", headers
    # The security headers of every answer are still there.
    assert headers.get("x-content-type-options") == "nosniff", headers
    assert ("flaskapp error page 503" in body) == release_page, body


@pytest.fixture(scope="module")
def site(host):
    """The VPS's own address (allowed through maintenance) and the releases."""
    # Its requests to 127.0.0.1 come through Docker's bridge, to this address from this address.
    address = host.check_output("ip -4 -o addr show eth0").split()[3].split("/")[0]
    return {"address": address}


def test_a_release_command_that_asks_for_it_runs_with_the_site_in_maintenance(host, tmp_path_factory, site):
    src = make_app(tmp_path_factory.mktemp("old") / "app", version="5.0.0",
                   static_files={OLD_ASSET.removeprefix("/static/"): "old{}"})
    process = start_playbook("playbooks/deploy.yml", extra_vars={
        "app_src": str(src), "app_release_maintenance": True,
        "app_release_command": "sh -c 'sleep 15 && flask --app wsgi init-db'"})
    started, answers = time.monotonic(), set()
    while process.poll() is None and time.monotonic() - started < 600:
        status, headers, body = get("/")
        answers.add((status, headers.get("retry-after"), "flaskapp error page 503" in body))
        time.sleep(0.5)
    rc, output = finish_playbook(process, started)
    assert rc == 0, output
    # The old release served, then maintenance while the command ran, then the new release.
    assert (503, "300", True) in answers, answers
    assert (200, None, False) in answers, answers
    site["old"], site["old_src"] = live_release(host), src
    status, _, body = get("/api/client")
    assert (status, json.loads(body)["version"]) == (200, "5.0.0")


def test_maintenance_mode_answers_503_but_static_files_health_checks_and_allowed_clients(host, site):
    allowed = {"app_maintenance_allowed_addresses": [site["address"]]}
    rc, output = run_playbook("playbooks/maintenance.yml", extra_vars={"state": "on", **allowed})
    assert rc == 0, output
    assert_in_maintenance()
    assert get(OLD_ASSET)[0] == 200
    assert get("/healthz")[0] == 200
    # A client of app_maintenance_allowed_addresses still reaches the app.
    status, _, body = get("/api/client", site["address"])
    assert status == 200, body
    assert json.loads(body)["release"] == site["old"]
    assert ledger(host)[-1]["action"] == "maintenance" and ledger(host)[-1]["result"] == "on"
    # On again: nothing changes.
    rc, output = run_playbook("playbooks/maintenance.yml", extra_vars={"state": "on", **allowed})
    assert rc == 0, output
    assert recap(output)["changed"] == 0, output
    assert_in_maintenance()


def test_a_bad_state_is_refused_before_any_change(host):
    rc, output = run_playbook("playbooks/maintenance.yml", extra_vars={"state": "maybe"})
    assert rc != 0
    assert 'state="maybe" is not allowed: allowed are on and off' in output, output
    assert_in_maintenance()


def test_old_assets_answer_through_a_deploy_and_maintenance_lasts(host, tmp_path_factory, site):
    src = make_app(tmp_path_factory.mktemp("new") / "app", version="5.1.0",
                   static_files={NEW_ASSET.removeprefix("/static/"): "new{}"})
    with Load(CONTAINER, url=f"http://127.0.0.1{OLD_ASSET}") as load:
        rc, output = run_playbook("playbooks/deploy.yml", extra_vars={"app_src": str(src)})
    assert rc == 0, output
    assert_no_failures(load)
    site["new"] = live_release(host)
    assert site["new"] != site["old"]
    # The new release has no such file: the release live before serves it.
    assert not host.file(f"{ROOT}/releases/{site['new']}/static{OLD_ASSET.removeprefix('/static')}").exists
    assert get(OLD_ASSET)[2] == "old{}"
    assert get(NEW_ASSET)[2] == "new{}"
    assert_in_maintenance()


def test_maintenance_lasts_across_a_rollback_and_a_restart_of_nginx(host, site):
    # Without fallback releases the rolled-back-from release's files are not served.
    rc, output = run_playbook("playbooks/rollback.yml", extra_vars={"app_static_fallback_releases": 0})
    assert rc == 0, output
    assert live_release(host) == site["old"]
    assert get(NEW_ASSET)[0] == 404
    assert get(OLD_ASSET)[0] == 200
    assert_in_maintenance()
    # As after a reboot: nginx starts again from the live configuration.
    host.check_output("docker restart web-front-nginx-1")
    for _ in range(60):
        if host.run("docker inspect -f '{{.State.Health.Status}}' web-front-nginx-1").stdout.strip() == "healthy":
            break
        time.sleep(1)
    assert_in_maintenance()


def test_maintenance_off_serves_the_app_again(host, site):
    rc, output = run_playbook("playbooks/maintenance.yml", extra_vars={"state": "off"})
    assert rc == 0, output
    status, headers, body = get("/api/client")
    assert status == 200, body
    assert "retry-after" not in headers
    assert json.loads(body)["release"] == site["old"]
    assert [entry["result"] for entry in ledger(host) if entry["action"] == "maintenance"][-2:] == ["on", "off"]
    # One fallback release again (the default): the release rolled back from.
    assert get(NEW_ASSET)[0] == 200


def test_nginx_sends_the_releases_own_error_pages_with_their_status_codes(host, site):
    socket = f"{ROOT}/releases/{site['old']}/run/gunicorn.sock"
    host.check_output(f"mv {socket} {socket}.away")
    try:
        # Past the kept upstream connections' idle time, nginx connects anew.
        time.sleep(6)
        status, _, body = get("/")
        assert status == 502, body
        assert "flaskapp error page 502" in body
    finally:
        host.check_output(f"mv {socket}.away {socket}")
    assert get("/")[0] == 200
    # A gateway timeout takes a minute to provoke: the served configuration says it.
    served = host.check_output("docker exec web-front-nginx-1 nginx -T -c /etc/nginx/app/live/nginx.conf 2>/dev/null")
    assert re.search(r"error_page 504 /\.flask-vps/errors/504\.html;", served), served
    # Clients cannot ask for the pages' internal location.
    assert get("/.flask-vps/errors/502.html")[0] == 404


def test_a_refused_release_ends_the_maintenance_it_asked_for(host, site):
    rc, output = run_playbook("playbooks/deploy.yml", extra_vars={
        "app_src": str(site["old_src"]), "app_release_maintenance": True,
        "app_release_command": "sh -c 'sleep 3 && exit 3'"})
    assert rc != 0
    assert "refused" in output, output
    assert live_release(host) == site["old"]
    status, headers, body = get("/api/client")
    assert status == 200, body
    assert "retry-after" not in headers
