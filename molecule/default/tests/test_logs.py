"""playbooks/logs.yml prints what the live release and nginx logged, the
newest `lines` of the last `since`, changing nothing; bad values are refused
before anything runs. Runs after test_fresh_vps.py, on its live release (a
job's runs: test_scheduled_jobs.py)."""

import re
import time
import uuid

from stack import recap, run_playbook


def logs(**extra_vars):
    rc, output = run_playbook("playbooks/logs.yml", extra_vars=extra_vars)
    assert rc == 0, output[-3000:]
    assert recap(output)["changed"] == 0, output[-3000:]
    return output


def request(host):
    path = f"/logs-test-{uuid.uuid4().hex[:8]}"
    host.run(f"curl -s -o /dev/null http://127.0.0.1{path}")
    return path


def test_the_live_releases_log_has_the_requests_it_answered(host):
    path = request(host)
    # (The debug output escapes the log line's quotes.)
    output = logs(lines=50).replace('\\"', '"')
    assert re.search(rf'"GET {path} HTTP/1\.[01]" 404', output), output[-3000:]


def test_nginxs_log_shows_the_newest_lines_asked_for(host):
    first, second = request(host), request(host)
    # nginx flushes its access log every second.
    time.sleep(2)
    output = logs(service="nginx", lines=1, since="10m")
    assert f"GET {second} HTTP/1.1" in output and f"GET {first} " not in output, output[-3000:]


def test_a_service_that_does_not_exist_is_refused_naming_what_is_allowed(host):
    rc, output = run_playbook("playbooks/logs.yml", extra_vars={"service": "worker:nope", "since": "a while"})
    assert rc != 0
    assert "service='worker:nope' is not a service of flaskapp: allowed are app, nginx." in output, output[-3000:]
    assert "since='a while' is not a duration" in output
