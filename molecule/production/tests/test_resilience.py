"""Restarts end with the site serving again within 60 s, with nothing lost."""

import re
import subprocess
import time

import pytest

from conftest import LIVE_APP, VPS, curl, inspect, ssh, wait_serving


def state(vps):
    """What must survive: the release served, the secret, the stack's files, the kernel settings, the certificate,
    the database's rows (its data files are PostgreSQL's to rewrite, and the worker's heartbeat is live)."""
    return {
        "image": inspect(vps, LIVE_APP)["Config"]["Image"],
        "secret": vps.check_output(f"docker exec {LIVE_APP} sha256sum /run/secrets/secret_key"),
        # The stack's and the host's web front's (nginx's configuration).
        "files": vps.check_output(
            "cd /srv && find flaskapp web-front \\( -path flaskapp/postgres/data"
            " -o -path flaskapp/data/worker-heartbeat.json \\) -prune -o -type f -print | sort | xargs sha256sum"),
        # (PostgreSQL may still be starting after a reboot: wait for it.)
        "notes": vps.check_output(
            "for i in $(seq 60); do docker exec flaskapp-postgres pg_isready -q && break; sleep 1; done;"
            " docker exec flaskapp-postgres psql -tA -U app -d app -c 'SELECT id, text FROM notes ORDER BY id'"),
        "compose": vps.check_output("docker compose --project-directory /srv/web-front ps --format '{{.Name}}'"),
        "sysctl": vps.check_output("sysctl $(sed -n 's/=.*//p' /etc/sysctl.d/90-flask-vps.conf)"),
        # The same certificate served (no new one asked for), and kept.
        "certificate": vps.check_output(
            "echo | openssl s_client -connect 127.0.0.1:443 -servername flask-vps.test 2>/dev/null"
            " | openssl x509 -noout -serial -fingerprint -sha256"
        ),
        "letsencrypt": vps.check_output("cd /etc/letsencrypt && find . -type f | sort | xargs sha256sum"),
    }


@pytest.fixture(scope="module")
def before(vps, internet):
    assert curl(internet, "/healthz")[1] == 200
    return state(vps)


def test_docker_restart(vps, internet, before):
    start = time.monotonic()
    vps.check_output("systemctl restart docker")
    assert wait_serving(internet, start) < 60
    assert state(vps) == before


def test_vps_reboot(vps, internet, ssh_key, before):
    subprocess.run(["docker", "restart", "-t", "20", VPS], check=True, capture_output=True)
    booted = time.monotonic()
    assert wait_serving(internet, booted) < 60
    assert state(vps) == before
    assert vps.run("nft list table inet firewall").rc == 0
    assert ssh(ssh_key, "deploy", "true").returncode == 0


def test_app_killed(vps, internet, before):
    # Wait until the stack is fully up again after the reboot above.
    for _ in range(60):
        if vps.run(f"docker inspect {LIVE_APP}").rc == 0 and inspect(vps, LIVE_APP)["State"]["Health"]["Status"] == "healthy":
            break
        time.sleep(1)
    else:
        pytest.fail("the app was not healthy again within 60 s after the reboot")
    # While every container runs, the watchdog only looks (its condition,
    # one docker inspect): no docker compose run.
    since = vps.check_output("date +%s")
    for _ in range(40):
        log = watchdog_log(vps, since)
        if "Skipped due to 'exec-condition'" in log:
            break
        time.sleep(1)
    else:
        pytest.fail(f"the watchdog did not check the stack within 40 s:\n{log}")
    assert "Container" not in log, log
    name = inspect(vps, LIVE_APP)["Name"].lstrip("/")
    killed = vps.check_output("date +%s")
    start = time.monotonic()
    vps.check_output(f"docker kill {LIVE_APP}")
    assert curl(internet, "/healthz")[1] != 200  # really down
    assert wait_serving(internet, start) < 60
    assert state(vps) == before
    # The watchdog's docker compose started it again (Docker's restart policy
    # leaves a killed container alone).
    log = watchdog_log(vps, killed)
    assert re.search(rf"Container {name}\s+Started", log), log


def watchdog_log(vps, since):
    """The stack watchdog's journal since `since` (seconds since the epoch)."""
    return vps.check_output(f"journalctl --unit flaskapp-watchdog.service --since @{since} --no-pager --output cat")
