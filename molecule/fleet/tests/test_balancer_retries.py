"""An app host that dies with a request in flight: the load balancer sends a
GET again to the other host, never a POST (which the dead host may already
have written).

The request is held in flight on purpose: a lock on the notes table (on the
db host) keeps the app host's gunicorn waiting on the database, then that
host's nginx is killed. HAProxy sees the connection close unanswered."""

import json
import shlex
import threading
import time

import pytest
from fleet import CAFILE, NAME, WEB, notes_locked, psql, wait_for_status

NGINX = "docker ps -aq --filter label=com.docker.compose.project=web-front --filter label=com.docker.compose.service=nginx"


def note_count(db):
    return int(db.check_output(f"echo 'SELECT count(*) FROM notes' | {psql()}"))


def in_flight_on(db):
    """The app host whose gunicorn waits on the locked notes table, or None."""
    waiting = db.check_output(
        f"echo \"SELECT host(client_addr) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        f" AND query LIKE '%notes%' AND application_name <> 'hold-notes'\" | {psql()}").split()
    hosts = [name for name, address in WEB.items() if address in waiting]
    return hosts[0] if len(hosts) == 1 else None


def request_with_a_dying_host(db, lb, web, internet, method, extra=""):
    """Send one request through the load balancer, kill the nginx of the app
    host whose gunicorn got it while it waits there; returns (HTTP status,
    host killed)."""
    answer = {}

    def send():
        answer["status"] = internet.run(
            # HTTP/1.1: curl itself may send a request again on a new HTTP/2
            # connection after a GOAWAY; only the load balancer's retries are
            # under test.
            f"curl -sS -m 50 --http1.1 -o /dev/null -w '%{{http_code}}' --cacert {CAFILE} -X {method} {extra}"
            f" https://{NAME}/api/notes").stdout.strip()

    hosts = dict(zip(WEB, web))
    for name in WEB:
        wait_for_status(lb, name, "UP", timeout=60)
    with notes_locked(db):
        client = threading.Thread(target=send)
        client.start()
        deadline = time.monotonic() + 20
        while (first := in_flight_on(db)) is None:
            assert time.monotonic() < deadline, "the request never reached an app host"
            time.sleep(0.1)
        hosts[first].check_output(f"docker kill $({NGINX})")
        # HAProxy answers or sends the request on before the lock goes.
        time.sleep(3)
    client.join(timeout=60)
    time.sleep(2)  # the dead host's gunicorn goes on once the lock goes
    return answer.get("status"), first


@pytest.fixture
def restart_nginx(lb, web):
    yield
    for name, host in zip(WEB, web):
        host.check_output(f"docker start $({NGINX})")
        wait_for_status(lb, name, "UP", timeout=60)


@pytest.mark.usefixtures("restart_nginx")
def test_a_post_the_dead_host_received_is_not_sent_again(db, lb, web, internet):
    before = note_count(db)
    body = shlex.quote(json.dumps({"text": "written at most once"}))
    status, killed = request_with_a_dying_host(db, lb, web, internet, "POST",
                                               f"-H 'Content-Type: application/json' --data-raw {body}")
    # The note is written at most once: by the dead host's gunicorn, which
    # went on once the lock went; the other host never saw the request...
    assert note_count(db) - before <= 1, (status, killed, before, note_count(db))
    # ...and the client learns that it failed (it may try again itself).
    assert status == "502", (status, killed)


@pytest.mark.usefixtures("restart_nginx")
def test_a_get_the_dead_host_received_is_answered_by_the_other(db, lb, web, internet):
    status, killed = request_with_a_dying_host(db, lb, web, internet, "GET")
    assert status == "200", (status, killed)
