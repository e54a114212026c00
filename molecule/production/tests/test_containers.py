"""Docker daemon and container settings, as `docker inspect` reports them."""

import json

import pytest

from conftest import LIVE_APP, inspect


@pytest.fixture(scope="module")
def app(vps):
    return inspect(vps, LIVE_APP)


@pytest.fixture(scope="module")
def containers(vps):
    names = vps.check_output("docker ps -a --format '{{.Names}}'").split()
    assert "web-front-nginx-1" in names
    assert any(name.startswith("flaskapp-app-") for name in names), names
    return [inspect(vps, name) for name in names]


def test_daemon_settings(vps):
    daemon = json.loads(vps.file("/etc/docker/daemon.json").content_string)
    assert daemon["no-new-privileges"] is True
    assert vps.check_output("docker info --format '{{.LiveRestoreEnabled}}'") == "true"


def test_daemon_sets_no_new_privileges_on_any_container(vps, app):
    status = vps.check_output(
        f"docker run --rm --entrypoint grep {app['Config']['Image']} NoNewPrivs /proc/self/status"
    )
    assert status.split() == ["NoNewPrivs:", "1"]


def test_app_container_is_locked_down(vps, app):
    host = app["HostConfig"]
    assert app["Config"]["User"] == "10001:10001"
    assert host["ReadonlyRootfs"] is True
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["CapDrop"] == ["ALL"]
    assert host["Memory"] == 512 * 1024 * 1024
    assert host["PidsLimit"] == 256
    # Releases publish nothing; nginx passes 127.0.0.1:8000 through to the live one.
    assert not host["PortBindings"]
    nginx = inspect(vps, "web-front-nginx-1")["HostConfig"]
    assert nginx["PortBindings"]["8000/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "8000"}]


def test_app_runs_as_non_root_on_a_read_only_root(vps):
    assert vps.check_output(f"docker exec {LIVE_APP} id -u") == "10001"
    assert vps.run(f"docker exec {LIVE_APP} touch /app/written").rc != 0
    assert vps.run(f"docker exec {LIVE_APP} touch /tmp/written").rc == 0


def test_every_container_restarts_checks_health_and_rotates_logs(containers):
    for container in containers:
        name = container["Name"]
        host = container["HostConfig"]
        assert host["RestartPolicy"]["Name"] == "unless-stopped", name
        assert container["Config"]["Healthcheck"]["Test"], name
        assert container["State"]["Health"]["Status"] == "healthy", name
        assert host["LogConfig"]["Type"] == "json-file", name
        assert host["LogConfig"]["Config"]["max-size"] == "10m", name
        assert host["Memory"] > 0 and host["PidsLimit"] > 0, name


def test_no_container_mounts_the_docker_socket(containers):
    for container in containers:
        for mount in container["Mounts"]:
            assert "docker.sock" not in mount["Source"], container["Name"]
