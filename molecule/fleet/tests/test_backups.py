"""Backups in the multi-host layout: playbooks/backup.yml backs up PostgreSQL
on the db host, each app host's data directory and the load balancer's
certbot account and certificates (in no backup before), each host into its
own repository on the backup server (restic's REST server, a login per host);
playbooks/restore.yml puts them all back together, or refuses before any
change. Runs first, on the first release."""

import json
import subprocess
import time

import pytest
from fleet import (
    ROOT,
    SITE,
    WEB,
    get,
    live_release,
    notes_locked,
    read_note,
    wait_for_status,
    write_note,
)

from stack import run_playbook

DUMP = "/var/lib/flaskapp-backup/staging/postgres.dump"
DATA = f"{ROOT}/data"
LETSENCRYPT = "cd /etc/letsencrypt && find . -type f | sort | xargs sha256sum"


def write_file(host, name):
    """A file of random bytes in the app host's data directory."""
    host.check_output(f"head -c 65536 /dev/urandom > {DATA}/{name}")


def data_files(host):
    """sha256 of the files write_file wrote."""
    return host.check_output(f"cd {DATA} && find . -name 'restore-*' | sort | xargs -r sha256sum")


def started(host):
    """When the live release's container started."""
    return host.check_output(f"docker inspect --format '{{{{.State.StartedAt}}}}' flaskapp-app-{live_release(host)}")


@pytest.fixture(scope="module")
def backup(web, db, lb, internet):
    """A note written through the site and a file on each app host, then
    playbooks/backup.yml; returns (note text, note id, output, {host: files})."""
    note = "kept by the db host's backup"
    note_id = write_note(internet, note)
    for host in web:
        write_file(host, "restore-before.bin")
    rc, output = run_playbook("playbooks/backup.yml")
    assert rc == 0, output[-3000:]
    files = {name: data_files(host) for name, host in zip(WEB, web)}
    files["fleet-lb"] = lb.check_output(LETSENCRYPT)
    return note, note_id, output, files


def test_each_host_backs_up_into_its_own_repository_and_the_db_host_holds_the_notes(web, db, lb, backup):
    note, _, output, _ = backup
    hosts = {"fleet-db": db, "fleet-web1": web[0], "fleet-web2": web[1], "fleet-lb": lb}
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
    # The load balancer's holds certbot's account key and the certificate.
    listing = lb.check_output("flaskapp-backup restic ls latest").split()
    assert "/etc/letsencrypt/live/flaskapp/privkey.pem" in listing
    assert any(path.startswith("/etc/letsencrypt/accounts/") and path.endswith("/private_key.json")
               for path in listing), listing


def test_a_restore_that_one_host_cannot_stage_changes_nothing_on_any_host(web, internet, backup):
    before = [(started(host), data_files(host)) for host in web]
    # One id for every host's repository: refused, names are per host.
    rc, output = run_playbook("playbooks/restore.yml", extra_vars={"snapshot": "0123abcd"})
    assert rc != 0
    assert "a snapshot is named per host" in output, output[-3000:]
    # fleet-web2 has no such snapshot: the others have fetched theirs, and
    # stop there.
    rc, output = run_playbook("playbooks/restore.yml", extra_vars={"snapshot": {"fleet-web2": "0123abcd"}})
    assert rc != 0
    assert "snapshot 0123abcd is not in the repository rest:http://fleet-web2:***@backup:8000" in output, output[-3000:]
    assert "Restore refused: fleet-web2 failed before the restore" in output, output[-3000:]
    assert [(started(host), data_files(host)) for host in web] == before
    for host in web:
        assert not host.file(f"{ROOT}/deploy.lock").exists
    assert read_note(internet, backup[1]) == backup[0]


def test_the_restore_brings_back_every_host_s_snapshot_and_both_app_hosts_serve_again(web, db, lb, internet, backup):
    note, note_id, _, files = backup
    later_id = write_note(internet, "written after the backup")
    for host in web:
        write_file(host, "restore-after.bin")
    snapshots = {host: json.loads(host.check_output("flaskapp-backup status"))["snapshot"]
                 for host in (db, *web, lb)}
    # The load balancer loses certbot's account (its key with it).
    lb.check_output("mv /etc/letsencrypt/accounts /root/accounts.lost")
    rc, output = run_playbook("playbooks/restore.yml")
    assert rc == 0, output[-3000:]
    for snapshot in snapshots.values():
        assert f"Restoring snapshot {snapshot[:8]} of flaskapp" in output, output[-3000:]
    for name, host in zip(WEB, web):
        assert data_files(host) == files[name]
        assert not host.file(f"{DATA}/restore-after.bin").exists
        assert not host.file(f"{ROOT}/deploy.lock").exists
        assert host.service("flaskapp-watchdog.timer").is_running
        wait_for_status(lb, name, "UP")
    assert read_note(internet, note_id) == note
    assert read_note(internet, later_id) is None
    # certbot's account and certificates are back, what they replaced kept aside.
    assert lb.check_output(LETSENCRYPT) == files["fleet-lb"]
    assert lb.check_output("ls -d /etc/.letsencrypt.before-restore-*/data/live/flaskapp")
    # Each app host answers the load balancer, and the site answers through it.
    for address in WEB.values():
        assert get(lb, f"http://{address}/api/client")
    for _ in range(4):
        assert get(internet, SITE)


def test_a_backup_stuck_on_a_lock_fails_at_its_time_limit_and_alerts(db):
    """A transaction holding a lock on the notes table keeps pg_dump waiting
    (its own lock timeout is 5 minutes). Before, the unit had no time limit:
    it stayed activating for as long as the lock, every later timer firing
    was a no-op, and nothing was reported. Now TimeoutStartSec
    (backup_time_limit, 60 s on this db host) fails it and OnFailure= runs
    the notification command. About 70 s."""
    since = db.check_output("date '+%Y-%m-%d %H:%M:%S'")
    with notes_locked(db):
        db.check_output("systemctl start --no-block flaskapp-backup.service")
        deadline = time.monotonic() + 150
        while (state := db.check_output("systemctl show --property=ActiveState --value flaskapp-backup.service")) \
                in ("activating", "active", "deactivating"):
            assert time.monotonic() < deadline, state
            time.sleep(2)
    assert state == "failed"
    assert db.check_output("systemctl show --property=Result --value flaskapp-backup.service") == "timeout"
    deadline = time.monotonic() + 30
    while "flaskapp-backup.service failed on fleet-db" not in (
            alerts := db.check_output(f"journalctl -q -t flask-vps-alert --since '{since}'")):
        assert time.monotonic() < deadline, alerts
        time.sleep(1)
