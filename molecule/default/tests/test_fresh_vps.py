"""What a user of the default deployment sees on a fresh Debian 13 VPS.

Runs before test_redeploy.py (pytest takes the files in name order), on the
VPS as converge left it, and leaves it that way."""

import re
import time
import uuid
from email.utils import parsedate_to_datetime

import pytest

from stack import SAMPLE_APP, docker, http, make_app, recap, run_playbook

STATIC_FILES = sorted(p for p in (SAMPLE_APP / "flaskapp" / "static").iterdir() if p.is_file())


def container_id(host, service):
    ids = docker(host, "ps", "-q", "--filter", f"label=com.docker.compose.service={service}").split()
    assert len(ids) == 1, f"expected one running {service} container, found {ids}"
    return ids[0]


def logged_lines(host, container, probe, wait=5):
    """The container's log lines holding probe; nginx writes its access log
    at most a second late, so this waits for the first."""
    deadline = time.monotonic() + wait
    while True:
        lines = [line for line in docker(host, "logs", container).splitlines() if probe in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.25)


def test_docker_is_enabled_and_running(host):
    service = host.service("docker")
    assert service.is_enabled
    assert service.is_running


def test_compose_is_v2(host):
    version = host.check_output("docker compose version --short")
    assert re.match(r"v?2\.", version), version


def test_port_80_listens_on_all_addresses(host):
    assert host.socket("tcp://0.0.0.0:80").is_listening


def test_port_8000_listens_on_loopback_only(host):
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(":8000")]
    assert listening == ["tcp://127.0.0.1:8000"]


def test_port_8000_refuses_the_public_address(host):
    public = host.check_output("hostname -I").split()[0]
    assert http(host, 80, "/healthz", address=public).status == 200
    result = host.run("python3 -c %s", f"import socket; socket.create_connection(('{public}', 8000), timeout=5)")
    assert result.rc != 0 and "refused" in result.stderr.lower()


@pytest.mark.parametrize(("port", "server"), [(80, "nginx"), (8000, "gunicorn")])
def test_home_page(host, port, server):
    response = http(host, port, "/")
    assert response.status == 200
    assert response.headers["server"].startswith(server)
    assert "Hello from flask-vps" in response.text
    assert 'id="version">1.0.0<' in response.text


@pytest.mark.parametrize("port", [80, 8000])
def test_healthz(host, port):
    response = http(host, port, "/healthz")
    assert response.status == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("port", [80, 8000])
def test_unknown_path_is_404(host, port):
    assert http(host, port, "/no/such/page").status == 404


@pytest.mark.parametrize("static_file", STATIC_FILES, ids=lambda p: p.name)
def test_static_files_are_served_by_nginx_for_30_days(host, static_file):
    probe = uuid.uuid4().hex
    response = http(host, 80, f"/static/{static_file.name}?probe={probe}")
    assert response.status == 200
    assert response.body == static_file.read_bytes()
    assert response.headers["server"].startswith("nginx")
    assert response.headers["cache-control"] == "max-age=2592000"
    expires = parsedate_to_datetime(response.headers["expires"])
    served = parsedate_to_datetime(response.headers["date"])
    assert (expires - served).days == 30
    # gunicorn logs every request it sees: this one never reached it.
    assert probe not in docker(host, "logs", container_id(host, "app"))


def test_app_sees_the_client_nginx_saw_not_a_forged_header(host):
    probe = uuid.uuid4().hex
    response = http(host, 80, f"/api/client?probe={probe}", headers={"X-Forwarded-For": "203.0.113.66"})
    assert response.status == 200
    client = response.json()["client"]
    nginx = container_id(host, "nginx")
    nginx_addresses = docker(host, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", nginx).split()
    logged = logged_lines(host, nginx, probe)
    assert len(logged) == 1
    assert client == logged[0].split()[0], "the app must see the peer address nginx saw"
    assert client not in nginx_addresses
    assert client != "203.0.113.66"


def test_flask_instance_folder_has_the_inventory_config_and_is_the_apps_to_write(host):
    """Flask's instance folder (app.instance_path, /app/instance) is the data
    directory's instance/: the app reads config.py from the inventory, which
    it cannot change, and writes files of its own there (Flask's tutorial
    keeps its SQLite database in it)."""
    folder = host.file("/srv/flaskapp/data/instance")
    assert (folder.is_directory, folder.uid, folder.gid, folder.mode) == (True, 10001, 10001, 0o750)
    config = host.file("/srv/flaskapp/data/instance/config.py")
    assert (config.uid, config.gid, config.mode) == (0, 10001, 0o640)
    assert config.content_string == 'SITE_NAME = "Notes on the VPS"\n'
    response = http(host, 80, "/api/instance")
    assert response.status == 200
    assert response.json() == {"path": "/app/instance", "site_name": "Notes on the VPS"}
    app = container_id(host, "app")
    docker(host, "exec", app, "sh", "-c", "echo mine > /app/instance/written-by-the-app")
    written = host.file("/srv/flaskapp/data/instance/written-by-the-app")
    assert (written.content_string, written.uid) == ("mine\n", 10001)
    assert docker(host, "exec", app, "sh", "-c", "echo x >> /app/instance/config.py 2>&1 || echo refused") \
        .strip().endswith("refused")


def test_rerun_without_changes_changes_and_restarts_nothing(host):
    before = {s: container_id(host, s) for s in ("app", "nginx")}
    started = {s: docker(host, "inspect", "-f", "{{.State.StartedAt}}", c) for s, c in before.items()}
    rc, output = run_playbook("site.yml")
    assert rc == 0, output[-3000:]
    assert recap(output)["changed"] == 0, output[-3000:]
    assert {s: container_id(host, s) for s in before} == before
    assert {s: docker(host, "inspect", "-f", "{{.State.StartedAt}}", c) for s, c in before.items()} == started


def test_code_change_is_served_after_a_rerun(host, tmp_path):
    changed_app = make_app(tmp_path / "app", version="1.1.0")
    try:
        run_playbook("site.yml", extra_vars={"app_src": str(changed_app)}, check=True)
        for port in (80, 8000):
            response = http(host, port, "/")
            assert response.status == 200
            assert 'id="version">1.1.0<' in response.text
            assert http(host, port, "/api/client").json()["version"] == "1.1.0"
    finally:
        # Leave the VPS as converge made it, so the scenario can be verified
        # again: only the app changed, so deploying it is enough.
        run_playbook("playbooks/deploy.yml", check=True)
    assert 'id="version">1.0.0<' in http(host, 80, "/").text
