"""Scheduled jobs (app_jobs): each runs in a new container of the live
release on its systemd calendar, never twice at once, within its time limit,
and reports a failure; a deploy does not interrupt a run, a rollback's release
runs the next one. Runs after test_redeploy.py, on the sample app it leaves
live (its SQLite notes database in the data directory)."""

import json
import time

import pytest

from stack import make_app, recap, run_playbook

JOBS = [
    # Every 5 seconds, as long as the tests run: writes a row each time.
    {"name": "note", "command": "flask --app wsgi add-note 'written by a job'", "on_calendar": "*:*:0/5"},
    # Longer than its period: the runs due meanwhile are skipped, and say so.
    {"name": "slow", "command": ["sh", "-c", "sleep 7"], "on_calendar": "*:*:0/2"},
    # Started by the tests (systemctl start, as its timer's unit does).
    {"name": "version", "command": ["python", "-c", "import flaskapp; print('version', flaskapp.__version__)"],
     "on_calendar": "*-01-01 04:00:00"},
    # Runs until the test lets it end (a file in the data directory), however long the deploy takes.
    {"name": "long", "command": ["sh", "-c", "until [ -e \"$APP_DATA_DIR/end-the-long-job\" ]; do sleep 1; done; echo finished"],
     "on_calendar": "*-01-01 04:00:00"},
    {"name": "fails", "command": "flask --app wsgi no-such-command", "on_calendar": "*-01-01 04:00:00"},
    # Fails until the test creates a file in the data directory.
    {"name": "flaky", "command": ["sh", "-c", "test -e \"$APP_DATA_DIR/the-flaky-job-works\""],
     "on_calendar": "*-01-01 04:00:00"},
    {"name": "too-long", "command": ["sleep", "120"], "on_calendar": "*-01-01 04:00:00", "time_limit": "3s"},
]


def deploy(tmp_path_factory, version, jobs=JOBS):
    src = make_app(tmp_path_factory.mktemp(f"jobs-{version}") / "app", version=version)
    rc, output = run_playbook("playbooks/deploy.yml", extra_vars={
        "app_src": str(src), "app_jobs": jobs})
    assert rc == 0, output[-3000:]
    return output


def notes(host):
    return json.loads(host.check_output("curl -sS http://127.0.0.1/api/notes"))["count"]


def journal(host, unit, since):
    return host.check_output(f"journalctl --no-pager -o cat --since '{since}' -u {unit}")


def run_job(host, name):
    """One run, as the timer starts it, to its end (the unit's result)."""
    host.run_expect([0, 1], f"systemctl start flaskapp-job-{name}.service")
    return host.check_output(f"systemctl show --property=Result --value flaskapp-job-{name}.service")


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(1)


@pytest.fixture(scope="module")
def scheduled(host, tmp_path_factory):
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    deploy(tmp_path_factory, "9.0.0")
    return since


def test_the_jobs_timers_are_listed(host, scheduled):
    timers = host.check_output("systemctl list-timers --no-pager 'flaskapp-job-*'")
    for job in JOBS:
        assert f"flaskapp-job-{job['name']}.timer" in timers, timers


def test_a_job_on_its_calendar_writes_rows_with_the_apps_data(host, scheduled):
    before = notes(host)
    wait_for(lambda: notes(host) >= before + 2, timeout=40)


def test_a_run_due_while_the_last_still_goes_is_skipped_and_logged(host, scheduled):
    wait_for(lambda: "Skipped: the run of flaskapp-job-slow" in journal(host, "flaskapp-job-slow-due", scheduled))
    # One run at a time: every start is followed by its end before the next.
    def events():
        return [line.split()[0] for line in journal(host, "flaskapp-job-slow", scheduled).splitlines()
                if line.startswith(("Starting flaskapp-job-slow", "Finished flaskapp-job-slow"))]
    wait_for(lambda: events().count("Finished") >= 2, timeout=40)
    runs = events()
    assert ["Starting", "Starting"] not in [runs[i:i + 2] for i in range(len(runs))], runs


def alerts(host, since):
    """What the alerts' notify command (host_vars) wrote to the journal."""
    return host.check_output(f"journalctl --no-pager -o cat --since '{since}' -t flask-vps-alert")


def test_a_failing_job_fails_its_unit_and_sends_an_alert(host, scheduled):
    assert run_job(host, "fails") == "exit-code"
    wait_for(lambda: "firing unit:flaskapp-job-fails.service: flask-vps-default flaskapp: "
             "flaskapp-job-fails.service failed" in alerts(host, scheduled), timeout=20)


def test_a_job_that_works_again_sends_its_recovery_once(host, scheduled):
    assert run_job(host, "flaky") == "exit-code"
    wait_for(lambda: "firing unit:flaskapp-job-flaky.service" in alerts(host, scheduled), timeout=20)
    host.run_expect([0], "touch /srv/flaskapp/data/the-flaky-job-works")
    assert run_job(host, "flaky") == "success"
    for _ in range(2):
        host.check_output("flask-vps-alert check")
    assert alerts(host, scheduled).count("recovered unit:flaskapp-job-flaky.service") == 1
    assert alerts(host, scheduled).count("firing unit:flaskapp-job-flaky.service") == 1


def test_a_job_past_its_time_limit_is_stopped_with_its_container(host, scheduled):
    assert run_job(host, "too-long") == "timeout"
    wait_for(lambda: host.check_output(
        "docker ps -a --filter name=flaskapp-job-too-long --format '{{.Names}}'") == "", timeout=20)


def test_a_deploy_lets_a_run_finish_and_the_next_runs_the_new_release(host, scheduled, tmp_path_factory):
    assert run_job(host, "version") == "success"
    assert "version 9.0.0" in journal(host, "flaskapp-job-version", scheduled)
    host.run_expect([0], "systemctl start --no-block flaskapp-job-long.service")
    wait_for(lambda: host.run("docker inspect flaskapp-job-long").rc == 0, timeout=30)
    started = host.check_output("docker inspect -f '{{.State.StartedAt}}' flaskapp-job-long")
    deploy(tmp_path_factory, "9.1.0")
    # The run that started before the deploy is the same container, still going, and ends well.
    assert host.check_output("docker inspect -f '{{.State.StartedAt}}' flaskapp-job-long") == started
    assert host.check_output("systemctl show --property=ActiveState --value flaskapp-job-long.service") \
        == "activating"
    host.run_expect([0], "touch /srv/flaskapp/data/end-the-long-job")
    wait_for(lambda: host.check_output(
        "systemctl show --property=ActiveState --value flaskapp-job-long.service") == "inactive")
    assert host.check_output("systemctl show --property=Result --value flaskapp-job-long.service") == "success"
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    assert run_job(host, "version") == "success"
    assert "version 9.1.0" in journal(host, "flaskapp-job-version", since)
    # playbooks/logs.yml shows a job's runs too.
    rc, output = run_playbook("playbooks/logs.yml", extra_vars={"service": "job:version", "lines": 20, "app_jobs": JOBS})
    assert rc == 0 and "version 9.1.0" in output, output[-3000:]


def test_a_rollback_runs_the_next_job_with_the_rolled_back_release(host, scheduled):
    rc, output = run_playbook("playbooks/rollback.yml")
    assert rc == 0, output[-3000:]
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    time.sleep(1)
    assert run_job(host, "version") == "success"
    assert "version 9.0.0" in journal(host, "flaskapp-job-version", since)


def test_jobs_removed_from_the_inventory_are_unscheduled(host, scheduled, tmp_path_factory):
    """A rerun with fewer jobs stops and removes the others' timers and units;
    with the same settings again it changes nothing."""
    output = deploy(tmp_path_factory, "9.1.0", jobs=[JOBS[2]])
    timers = host.check_output("systemctl list-timers --all --no-pager 'flaskapp-job-*'")
    assert "flaskapp-job-version.timer" in timers and "flaskapp-job-note.timer" not in timers, timers
    assert not host.file("/etc/systemd/system/flaskapp-job-note.service").exists
    assert not host.file("/etc/systemd/system/flaskapp-job-note-due.service").exists
    output = deploy(tmp_path_factory, "9.1.0", jobs=[JOBS[2]])
    assert recap(output)["changed"] == 0, output[-3000:]
