"""Alerts (the alerts role): a full disk, a disk out of inodes, the watchdog
starting a stopped container and a crash loop each reach the notify command
(the journal, host_vars) and the notify URL (a receiver on the VPS) once,
with what failed and what to do; a recovery once; the heartbeat after every
check. The checks run as their timer runs them (flask-vps-alert check), a
few times in a row: what is sent once must not be sent again. Runs first, on
the freshly converged VPS; the deploys' alerts are in test_redeploy.py, the
jobs' in test_scheduled_jobs.py."""

import base64
import json
import re
import time

import pytest

DISK = "/mnt/alerts-test-disk"
RECEIVED = "/root/alerts-received.jsonl"
# Keeps every JSON POST on 127.0.0.1:9099 (host_vars: alerts_notify_url,
# alerts_heartbeat_url), a line each.
RECEIVER = f"""
import http.server, json
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open({RECEIVED!r}, "a") as out:
            out.write(json.dumps({{"path": self.path, "body": body}}) + "\\n")
        self.send_response(200)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", 9099), Handler).serve_forever()
"""


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(1)
    return result


@pytest.fixture(scope="module")
def receiver(host):
    script = base64.b64encode(RECEIVER.encode()).decode()
    host.check_output(f"echo {script} | base64 -d > /root/alert-receiver.py && rm -f {RECEIVED}")
    host.check_output("systemd-run --unit alert-receiver python3 /root/alert-receiver.py")
    wait_for(lambda: host.socket("tcp://127.0.0.1:9099").is_listening, timeout=20)
    yield
    host.run("systemctl stop alert-receiver")


def received(host, path="/alerts"):
    text = host.run(f"cat {RECEIVED}").stdout
    return [line["body"] for line in map(json.loads, text.splitlines()) if line["path"] == path]


def sent(host, key, state):
    """What the URL received about `key` in `state`."""
    return [alert for alert in received(host) if alert["key"] == key and alert["state"] == state]


def commanded(host, key, state):
    """What the notify command wrote to the journal about `key` in `state`."""
    journal = host.check_output("journalctl --no-pager -o cat -t flask-vps-alert")
    return [line for line in journal.splitlines() if line.startswith(f"{state} {key}: ")]


def check(host, times=2):
    for _ in range(times):
        host.check_output("flask-vps-alert check")


@pytest.fixture
def small_disk(host):
    def mount(options):
        host.check_output(f"mkdir -p {DISK} && mount -t tmpfs -o {options} alerts-test {DISK}")
    yield mount
    host.run(f"umount {DISK}")


def test_the_checks_run_on_a_timer_and_the_settings_are_roots_alone(host):
    assert "flask-vps-alerts-check.timer" in host.check_output("systemctl list-timers --no-pager flask-vps-alerts-*")
    config = host.file("/etc/flask-vps/alerts/config.json")
    assert (config.user, config.mode) == ("root", 0o600)
    watch = json.loads(host.file("/etc/flask-vps/alerts/watch.d/flaskapp.json").content_string)
    assert watch["paths"] == ["/srv/flaskapp/data", "/srv/flaskapp"]
    assert watch["containers"] == ["flaskapp-"]
    assert "flaskapp-watchdog.service" in watch["units"]


@pytest.mark.usefixtures("receiver")
def test_a_full_disk_alerts_once_then_recovers_once(host, small_disk):
    key = f"disk:{DISK}"
    small_disk("size=16m")
    host.check_output(f"dd if=/dev/zero of={DISK}/fill bs=1M count=15 status=none")
    check(host, times=3)
    [alert] = sent(host, key, "firing")
    assert re.search(rf"the filesystem at {DISK} \(holding {DISK}\) is 9\d% full, \d+ [KM]B free \(alert from 90%\)",
                     alert["summary"]), alert
    assert alert["host"] == "flask-vps-default"
    assert "docker image prune" in alert["action"]
    assert alert["message"].startswith(f"flask-vps-default: {alert['summary']} (since ")
    assert len(commanded(host, key, "firing")) == 1
    host.check_output(f"rm {DISK}/fill")
    check(host, times=3)
    assert len(sent(host, key, "recovered")) == 1
    assert len(commanded(host, key, "recovered")) == 1
    assert len(sent(host, key, "firing")) == 1


@pytest.mark.usefixtures("receiver")
def test_a_disk_out_of_inodes_alerts(host, small_disk):
    small_disk("size=16m,nr_inodes=40")
    host.check_output(f"touch {' '.join(f'{DISK}/file-{n}' for n in range(38))}")
    check(host)
    [alert] = sent(host, f"inodes:{DISK}", "firing")
    assert re.search(r"uses 9\d% of its inodes \(alert from 90%\)", alert["summary"]), alert


@pytest.mark.usefixtures("receiver")
def test_the_heartbeat_follows_every_check_and_a_test_alert_can_be_sent(host):
    before = len(received(host, "/heartbeat"))
    check(host, times=2)
    beats = received(host, "/heartbeat")
    assert len(beats) == before + 2
    assert beats[-1]["host"] == "flask-vps-default"
    host.check_output("flask-vps-alert test")
    assert len(sent(host, "test", "event")) == 1


@pytest.mark.usefixtures("receiver")
def test_the_watchdog_alerts_when_it_starts_a_stopped_container(host):
    host.check_output("docker stop web-front-nginx-1")
    # app_watchdog_interval: 15 s.
    [alert] = wait_for(lambda: sent(host, "watchdog:flaskapp", "event"), timeout=60)
    assert alert["app"] == "flaskapp"
    assert "found containers of flaskapp stopped or missing, and started them again" in alert["summary"]
    host.check_output("timeout 60 sh -c 'until curl -sf http://127.0.0.1/healthz; do sleep 0.5; done'")


@pytest.mark.usefixtures("receiver")
def test_a_container_that_keeps_crashing_alerts(host):
    """A container of the stack (its name has the app's prefix) that exits a
    second after each start, restarted by Docker's restart policy with its
    growing delays, as a crashing worker would be."""
    name = "flaskapp-crash-test"
    key = f"crash-loop:{name}"
    image = host.check_output("docker inspect -f '{{.Config.Image}}' "
                              "$(docker ps -q --filter label=flask-vps.app=flaskapp)")
    host.check_output(f"docker run --detach --name {name} --restart unless-stopped --entrypoint sh {image}"
                      " -c 'sleep 1; exit 3'")
    try:
        check(host, times=1)
        assert sent(host, key, "firing") == []
        wait_for(lambda: int(host.check_output(f"docker inspect -f '{{{{.RestartCount}}}}' {name}")) >= 6,
                 timeout=120)
        check(host)
        [alert] = sent(host, key, "firing")
        assert re.search(rf"the container {name} stopped ([6-9]|\d\d) times in the last hour \(alert over 5\)",
                         alert["summary"]), alert
        assert alert["app"] == "flaskapp"
        assert alert["action"] == f"docker logs --tail 100 {name}"
    finally:
        host.run(f"docker rm --force {name}")
