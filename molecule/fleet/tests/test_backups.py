"""Backups in the multi-host layout: playbooks/backup.yml backs up PostgreSQL
on the db host and each app host's data directory, each host into its own
repository on the backup server (restic's REST server, a login per host).
Runs first, on the first release."""

import json
import shlex
import subprocess

from fleet import (
    CAFILE,
    NAME,
)

from stack import run_playbook

DUMP = "/var/lib/flaskapp-backup/staging/postgres.dump"


def write_note(internet, text):
    """POST a note through the load balancer, as a browser would; returns its id."""
    body = shlex.quote(json.dumps({"text": text}))
    out = internet.check_output(f"curl -sS -m 10 --fail-with-body --cacert {CAFILE} -H 'Content-Type: application/json'"
                                f" --data-raw {body} https://{NAME}/api/notes")
    return json.loads(out)["id"]


def test_each_host_backs_up_into_its_own_repository_and_the_db_host_holds_the_notes(web, db, internet):
    note = "kept by the db host's backup"
    write_note(internet, note)
    rc, output = run_playbook("playbooks/backup.yml")
    assert rc == 0, output[-3000:]
    hosts = {"fleet-db": db, "fleet-web1": web[0], "fleet-web2": web[1]}
    for name, host in hosts.items():
        snapshot = json.loads(host.check_output("flaskapp-backup status"))["snapshot"]
        assert snapshot and snapshot[:8] in output, (name, output[-3000:])
        # In the host's own repository on the backup server.
        files = subprocess.run(["docker", "exec", "fleet-backup", "ls", f"/srv/restic/{name}/flaskapp/snapshots"],
                               check=True, capture_output=True, text=True).stdout.split()
        assert any(f.startswith(snapshot) for f in files), (name, snapshot, files)
    # The db host's snapshot holds the database, with the note written
    # through the site; the app hosts' hold no database dump.
    rows = db.check_output(f"flaskapp-backup restic dump latest {DUMP}"
                           " | docker exec -i flaskapp-postgres pg_restore --data-only --table=notes -f -")
    assert note in rows
    for host in web:
        assert host.run(f"flaskapp-backup restic dump latest {DUMP}").rc != 0
