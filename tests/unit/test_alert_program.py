"""The alerts role's program (roles/alerts/files/flask-vps-alert): what it
sends, to a real shell command and a real HTTP receiver, how often, and what
its checks find on real files (filesystems, certificates, backup records).
Crash loops and failed units need Docker and systemd: the default scenario's
tests/test_alerts.py."""

import http.server
import importlib.machinery
import importlib.util
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
loader = importlib.machinery.SourceFileLoader("flask_vps_alert", str(ROOT / "roles/alerts/files/flask-vps-alert"))
spec = importlib.util.spec_from_loader("flask_vps_alert", loader)
alert = importlib.util.module_from_spec(spec)
loader.exec_module(alert)


class Clock:
    def __init__(self):
        self.time = 1_800_000_000.0

    def __call__(self):
        return self.time


@pytest.fixture
def receiver():
    """A real HTTP server on loopback that keeps the JSON bodies POSTed to it."""
    bodies = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", bodies
    server.shutdown()


@pytest.fixture
def alerts(tmp_path, receiver):
    url, _ = receiver
    sent = tmp_path / "sent.log"
    config = {"host": "vps1", "command": f'echo "$ALERT_STATE|$ALERT_KEY|$FAILED_UNIT|$ALERT_MESSAGE" >> {sent}',
              "url": url, "repeat_seconds": 3600, "disk_paths": [], "certificate_days": 21,
              "backup_max_age_hours": 26}
    (tmp_path / "watch.d").mkdir()
    clock = Clock()
    made = alert.Alerts(config, watch_dir=tmp_path / "watch.d", state_dir=tmp_path / "state", now=clock)
    made.clock, made.sent = clock, sent
    return made


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


def run(alerts, method, *args):
    with alerts.locked():
        return getattr(alerts, method)(*args)


def test_an_alert_goes_to_the_command_and_the_url_with_what_and_what_to_do(alerts, receiver):
    run(alerts, "fire", "unit:app-backup.service", "app-backup.service failed", "shop", "run it again",
        "app-backup.service")
    assert lines(alerts.sent) == [("firing|unit:app-backup.service|app-backup.service|vps1 shop: app-backup.service "
                                   "failed (since 2027-01-15 08:00 UTC). What to do: run it again")]
    _, bodies = receiver
    assert bodies == [{"host": "vps1", "app": "shop", "key": "unit:app-backup.service", "state": "firing",
                       "summary": "app-backup.service failed", "since": "2027-01-15 08:00 UTC",
                       "action": "run it again", "message": bodies[0]["message"]}]


def test_an_alert_is_one_line_whatever_the_error_it_quotes(alerts):
    run(alerts, "fire", "deploy:shop", "the deploy failed: nginx: [emerg]\n  invalid value\n", "shop", "fix\nit")
    [line] = lines(alerts.sent)
    assert line.endswith("shop: the deploy failed: nginx: [emerg] invalid value (since 2027-01-15 08:00 UTC). "
                         "What to do: fix it")


def test_a_lasting_condition_is_repeated_once_per_interval_and_recovers_once(alerts):
    for minutes in (0, 5, 30, 59):
        alerts.clock.time = 1_800_000_000 + minutes * 60
        run(alerts, "fire", "disk:/", "the disk is full")
    assert len(lines(alerts.sent)) == 1
    alerts.clock.time = 1_800_000_000 + 61 * 60
    run(alerts, "fire", "disk:/", "the disk is full")
    assert len(lines(alerts.sent)) == 2
    run(alerts, "clear", "disk:/", "the disk has room again")
    run(alerts, "clear", "disk:/", "the disk has room again")
    assert [line.split("|")[0] for line in lines(alerts.sent)] == ["firing", "firing", "recovered"]
    assert "RECOVERED: the disk has room again (alerting since 2027-01-15 08:00 UTC)" in lines(alerts.sent)[-1]


def test_a_failed_send_is_tried_again_at_the_next_check(alerts, tmp_path):
    alerts.config["command"] = "exit 3"
    alerts.config["url"] = ""
    run(alerts, "fire", "disk:/", "the disk is full")
    alerts.config["command"] = f'echo "$ALERT_SUMMARY" >> {alerts.sent}'
    run(alerts, "fire", "disk:/", "the disk is full")
    assert lines(alerts.sent) == ["the disk is full"]


def test_events_are_not_repeated_within_the_interval_unless_always(alerts):
    run(alerts, "event", "watchdog:shop", "the watchdog started containers")
    run(alerts, "event", "watchdog:shop", "the watchdog started containers")
    assert len(lines(alerts.sent)) == 1
    run(alerts, "event", "deploy-ok:shop", "deployed", "", "", True)
    run(alerts, "event", "deploy-ok:shop", "deployed", "", "", True)
    assert len(lines(alerts.sent)) == 3


def test_a_deploy_that_succeeds_recovers_a_failed_one_and_is_announced_only_when_asked(alerts):
    run(alerts, "done", "deploy:shop", "the deploy succeeded")
    assert lines(alerts.sent) == []
    run(alerts, "fire", "deploy:shop", "the deploy failed")
    run(alerts, "done", "deploy:shop", "the deploy succeeded, release 2")
    assert [line.split("|")[0] for line in lines(alerts.sent)] == ["firing", "recovered"]
    alerts.config["notify_deploys"] = True
    run(alerts, "done", "deploy:shop", "the deploy succeeded, release 3")
    assert lines(alerts.sent)[-1].startswith("event|deploy:shop|")


def test_the_disk_check_alerts_from_its_threshold_and_recovers(alerts, tmp_path):
    (alerts.watch_dir / "shop.json").write_text(json.dumps({"app": "shop", "paths": [str(tmp_path)]}))
    alerts.config["disk_percent"] = 1
    alerts.config["inode_percent"] = 100
    run(alerts, "check")
    sent = lines(alerts.sent)
    assert len(sent) == 1 and sent[0].startswith("firing|disk:") and f"(holding {tmp_path}) is" in sent[0]
    alerts.config["disk_percent"] = 100
    run(alerts, "check")
    assert lines(alerts.sent)[-1].startswith("recovered|disk:")


def test_a_certificate_under_the_days_left_alerts(alerts, tmp_path):
    for days in (10, 90):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", str(tmp_path / f"{days}.key"), "-out", str(tmp_path / f"{days}.pem"),
                        "-days", str(days), "-subj", "/CN=shop.test"], check=True, capture_output=True)
    (alerts.watch_dir / "shop-certificate.json").write_text(json.dumps(
        {"app": "shop", "certificates": [str(tmp_path / "10.pem"), str(tmp_path / "90.pem"), "/nonexistent.pem"],
         "certificate_action": "renew it"}))
    alerts.clock.time = time.time()
    run(alerts, "check")
    assert lines(alerts.sent) == []
    # 70 days on: the 90-day certificate has 20 left, under 21; the 10-day
    # one expired 60 days ago.
    alerts.clock.time += 70 * 86400
    run(alerts, "check")
    sent = lines(alerts.sent)
    assert len(sent) == 2, sent
    assert f"certificate:{tmp_path}/90.pem" in sent[1] and "in 20 days (alert under 21 days)" in sent[1]
    assert sent[1].endswith("What to do: renew it")


def test_a_short_lived_certificate_alerts_under_a_third_of_its_lifetime(alerts, tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(tmp_path / "key"), "-out", str(tmp_path / "6-days.pem"), "-days", "6",
                    "-subj", "/CN=shop.test"], check=True, capture_output=True)
    (alerts.watch_dir / "shop-certificate.json").write_text(json.dumps(
        {"app": "shop", "certificates": [str(tmp_path / "6-days.pem")]}))
    alerts.clock.time = time.time() + 3.5 * 86400
    run(alerts, "check")
    assert lines(alerts.sent) == []
    alerts.clock.time += 86400
    run(alerts, "check")
    assert "in 1 days (alert under 2 days)" in lines(alerts.sent)[0]


def watch_record(alerts, tmp_path, kind, filename):
    """The backup role's watch entry naming the record of its last `kind`
    (backup, drill); returns the record's path and the entry's."""
    state = tmp_path / filename
    entry = alerts.watch_dir / "shop-backup.json"
    entry.write_text(json.dumps({"app": "shop", kind: {"name": "shop", "state_file": str(state), "action": "look"}}))
    return state, entry


def test_no_good_backup_for_too_long_alerts(alerts, tmp_path):
    state, _ = watch_record(alerts, tmp_path, "backup", "last-success.json")
    state.write_text(json.dumps({"snapshot": "abc123", "epoch": alerts.clock.time - 25 * 3600,
                                 "time": "2027-01-14T07:00:00Z"}))
    run(alerts, "check")
    assert lines(alerts.sent) == []
    alerts.clock.time += 2 * 3600
    run(alerts, "check")
    assert "no good backup of shop for 27 h (alert after 26 h): the last good backup is abc123" in \
        lines(alerts.sent)[0]


def test_no_good_restore_drill_for_too_long_alerts_and_says_why(alerts, tmp_path):
    alerts.config["drill_max_age_days"] = 8
    state, _ = watch_record(alerts, tmp_path, "drill", "last-drill.json")
    good = {"epoch": alerts.clock.time - 7 * 86400, "time": "2027-01-08T08:00:00Z", "snapshot": "abc12345ff",
            "snapshot_time": "2027-01-08T07:00:00Z"}
    state.write_text(json.dumps({**good, "ok": True, "failures": [], "last_ok": good}))
    run(alerts, "check")
    assert lines(alerts.sent) == []
    # The next week's drill fails: its unit alerts; a day later, so does its age.
    state.write_text(json.dumps({"epoch": alerts.clock.time, "time": "2027-01-15T08:00:00Z", "snapshot": "def",
                                 "ok": False, "failures": ["restic restore failed"], "last_ok": good}))
    alerts.clock.time += 1.5 * 86400
    run(alerts, "check")
    [sent] = lines(alerts.sent)
    assert sent.startswith("firing|drill:shop|drill:shop|vps1 shop: no good restore drill of shop for 8.5 days "
                           "(alert after 8 days): the last good drill restored abc12345 on 2027-01-08T08:00:00Z; "
                           "the last one, on 2027-01-15T08:00:00Z, failed: restic restore failed"), sent
    assert sent.endswith("What to do: look")
    # A drill passes: the recovery.
    now = {**good, "epoch": alerts.clock.time}
    state.write_text(json.dumps({**now, "ok": True, "failures": [], "last_ok": now}))
    run(alerts, "check")
    assert lines(alerts.sent)[1].startswith("recovered|drill:shop|")


def test_a_new_vps_waits_for_its_first_restore_drill(alerts, tmp_path):
    """No drill yet: counted from when the drills were set up (the watch
    entry's time), not from the epoch."""
    alerts.config["drill_max_age_days"] = 8
    _, entry = watch_record(alerts, tmp_path, "drill", "last-drill.json")
    alerts.clock.time = entry.stat().st_mtime + 7 * 86400
    run(alerts, "check")
    assert lines(alerts.sent) == []
    alerts.clock.time += 2 * 86400
    run(alerts, "check")
    assert "no good restore drill of shop for 9.0 days (alert after 8 days): no drill has passed yet" in \
        lines(alerts.sent)[0]


def test_a_key_whose_watch_entry_went_is_forgotten_without_a_recovery(alerts, tmp_path):
    entry = alerts.watch_dir / "shop.json"
    entry.write_text(json.dumps({"app": "shop", "paths": [str(tmp_path)]}))
    alerts.config["disk_percent"] = 1
    run(alerts, "check")
    entry.unlink()
    run(alerts, "check")
    assert len(lines(alerts.sent)) == 1
    assert alerts.state["firing"] == {}


def test_the_heartbeat_is_posted_after_each_check(alerts, receiver):
    url, bodies = receiver
    alerts.config["url"] = ""
    alerts.config["heartbeat_url"] = url
    run(alerts, "check")
    run(alerts, "check")
    assert bodies == [{"host": "vps1", "firing": []}] * 2


def test_backup_notify_command_from_before_gets_the_failures_only(alerts):
    alerts.config["command_reports_failures_only"] = True
    run(alerts, "fire", "unit:app-backup.service", "app-backup.service failed", "", "", "app-backup.service")
    run(alerts, "clear", "unit:app-backup.service", "app-backup.service works again")
    assert [line.split("|")[:3] for line in lines(alerts.sent)] == [
        ["firing", "unit:app-backup.service", "app-backup.service"]]
