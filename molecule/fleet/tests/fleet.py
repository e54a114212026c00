"""What the fleet scenario's tests share: its hosts and addresses, and how
they look at the site, each host's release and image, HAProxy's view of the
app hosts and a playbook's output."""

import json
import os
import re
import shlex
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

LB = "10.177.77.10"
WEB = {"fleet-web1": "10.177.77.11", "fleet-web2": "10.177.77.12"}
DB = "10.177.77.13"
INTERNET = "fleet-internet"
NAME = "flask-vps.test"  # the load balancer's address in the test network's DNS
SITE = f"https://{NAME}/api/client"
# In the internet container: pebble's root, which issued the site's
# certificate (new at every pebble start), as a browser trusts its CA's.
CAFILE = "/root/acme-root.pem"
ROOT = "/srv/flaskapp"
PSQL = "docker exec -i {env} flaskapp-postgres sh -c 'psql -qAt -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\"'"
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "."))


def get(host, url):
    """GET from `host` (for the site's name, whatever the address), the answer's JSON."""
    tls = f"--cacert {CAFILE}" if url.startswith("https:") else ""
    return json.loads(host.check_output(f"curl -sS -m 10 --fail {tls} -H 'Host: {NAME}' {url}"))


def write_note(internet, text):
    """POST a note through the load balancer, as a browser would; returns its id."""
    body = shlex.quote(json.dumps({"text": text}))
    out = internet.check_output(f"curl -sS -m 10 --fail-with-body --cacert {CAFILE} -H 'Content-Type: application/json'"
                                f" --data-raw {body} https://{NAME}/api/notes")
    return json.loads(out)["id"]


def read_note(internet, note_id):
    """The note's text, read through the load balancer; None when there is no such note."""
    out = internet.check_output(f"curl -sS -m 10 --cacert {CAFILE} https://{NAME}/api/notes/{note_id}")
    return json.loads(out).get("text")


def live_release(host):
    return host.file(f"{ROOT}/history").content_string.splitlines()[-1].split()[2]


def image_id(host, release):
    return host.check_output(f"docker image inspect --format '{{{{.Id}}}}' flaskapp-app:{release}")


def balancer(lb):
    """HAProxy's view of the app hosts: {name: (status, total requests)}."""
    stat = lb.check_output("echo 'show stat app 4 -1' | socat stdio /run/haproxy/admin.sock")
    header, *rows = stat.lstrip("# ").splitlines()
    fields = header.split(",")
    servers = {}
    for row in rows:
        values = dict(zip(fields, row.split(",")))
        if values.get("svname") in WEB:
            servers[values["svname"]] = (values["status"], int(values["stot"]))
    return servers


def wait_for_status(lb, name, status, timeout=30):
    """Seconds until HAProxy shows `name` in `status`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if balancer(lb)[name][0] == status:
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"{name} not {status} after {timeout} s: {balancer(lb)}")


def assert_serves(web, internet, release, version):
    """Every app host is live on `release`, with the same image, and the site answers with it."""
    assert [live_release(host) for host in web] == [release] * len(web)
    assert len({image_id(host, release) for host in web}) == 1
    for _ in range(4):
        body = get(internet, SITE)
        assert (body["release"], body["version"]) == (release, version), body


def task_hosts(output, task, outcome):
    """Hosts with `outcome` (changed, ok, skipping, fatal) on the task named
    `task`, in every batch of a play with `serial` (one section per batch)."""
    sections = re.findall(rf"TASK \[[^\]]*{re.escape(task)}\][^\n]*\n(.*?)(?=\nTASK |\nPLAY |\Z)", output, re.DOTALL)
    assert sections, f"no task {task!r} in the output"
    return {host for section in sections for host in re.findall(rf"^{outcome}: \[([^\]]+)\]", section, re.MULTILINE)}


def psql(env=""):
    return PSQL.format(env=env)


@contextmanager
def notes_locked(db):
    """Every query on the notes table waits until the block ends."""
    locker = subprocess.Popen(
        ["docker", "exec", "-i", "fleet-db", "sh", "-c", psql("-e PGAPPNAME=hold-notes")],
        stdin=subprocess.PIPE, text=True)
    locker.stdin.write("BEGIN; LOCK TABLE notes IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);\n")
    locker.stdin.flush()
    try:
        deadline = time.monotonic() + 20
        while "hold-notes" not in db.check_output(
                f"echo \"SELECT application_name FROM pg_locks JOIN pg_stat_activity USING (pid)"
                f" WHERE relation = 'notes'::regclass AND granted\" | {psql()}"):
            assert time.monotonic() < deadline, "the notes table was not locked"
            time.sleep(0.2)
        yield
    finally:
        db.run(f"echo \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
               f" WHERE application_name = 'hold-notes'\" | {psql()}")
        locker.stdin.close()
        locker.wait(timeout=30)
