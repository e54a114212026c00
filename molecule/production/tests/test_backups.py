"""Backups to the SFTP server (production-backup), and a disaster: the VPS is
destroyed, a new one (another machine) is set up with site.yml, and
playbooks/restore.yml -e restore_from_another_vps=true brings back the
snapshot's data, byte for byte and row for row, without what was written
after it. The timer backs up by itself; an unreachable server
fails the unit loudly; an unknown snapshot is refused before any change.

The disaster leaves a VPS set up like the scenario's (prepare.yml and both
converges), so the tests that run after this file check the recovered VPS."""

import json
import re
import subprocess
import time

import pytest

from conftest import (
    LIVE_APP,
    SCENARIO_DIR,
    SSH_PORT,
    VPS,
    deploy,
    inspect,
    read_note,
    rows,
    run_playbook,
    write_note,
)
from stack import start_vps

DATA = "/srv/flaskapp/data"
BACKUP_SERVER = "production-backup"
NETWORK = "production-internet"
STATUS = "flaskapp-backup status"
# The files the test writes in the data directory, as the app would (its user, its mount).
WRITE_FILES = r"""
import os, sqlite3, sys
os.makedirs("/data/uploads", exist_ok=True)
with open("/data/uploads/" + sys.argv[1], "wb") as f:
    f.write(os.urandom(256 * 1024))
with open("/data/uploads/log.txt", "a") as f:
    f.write(sys.argv[1] + "\n")
with sqlite3.connect("/data/shop.db") as db:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT)")
    db.execute("INSERT INTO orders (item) VALUES (?)", (sys.argv[1],))
"""

READ_ORDERS = "import sqlite3; print(sqlite3.connect('/data/shop.db').execute('SELECT id, item FROM orders').fetchall())"


def write_files(vps, name):
    vps.check_output(f"docker exec {LIVE_APP} python3 -c %s %s", WRITE_FILES, name)


def data_files(vps):
    """sha256 of every file of the data directory but the live ones (the
    worker's heartbeat, SQLite's own files), and the SQLite rows."""
    files = vps.check_output(
        f"cd {DATA} && find . -type f ! -name 'worker-heartbeat.*' ! -name 'shop.db*' | sort | xargs -r sha256sum")
    orders = vps.check_output(f"docker exec {LIVE_APP} python3 -c %s", READ_ORDERS)
    return files, orders


def status(vps):
    return json.loads(vps.check_output(STATUS))


def live_container_started(vps):
    return inspect(vps, LIVE_APP)["State"]["StartedAt"]


@pytest.fixture(scope="module")
def snapshot(vps, internet):
    """Data written through the site and in the data directory, then
    playbooks/backup.yml; returns (snapshot id, notes, files, note id)."""
    note_id = write_note(internet, "kept by the backup")
    write_files(vps, "before.bin")
    notes, files = rows(vps), data_files(vps)
    rc, output = run_playbook("playbooks/backup.yml")
    assert rc == 0, output[-3000:]
    found = re.search(r"Backup of flaskapp done: snapshot ([0-9a-f]{8,64})", output)
    assert found, output[-3000:]
    assert status(vps)["snapshot"] == found[1]
    assert status(vps)["age_seconds"] < 300
    return found[1], notes, files, note_id


def test_the_backup_holds_the_dump_the_copies_and_the_secrets_not_the_live_files(vps, ephemeral_dir, snapshot):
    listing = vps.check_output(f"flaskapp-backup restic ls {snapshot[0]}")
    release = vps.check_output("readlink -f /srv/flaskapp/current").strip()
    assert "/var/lib/flaskapp-backup/staging/postgres.dump" in listing
    assert "/var/lib/flaskapp-backup/staging/sqlite/shop.db" in listing
    assert f"{DATA}/uploads/before.bin" in listing
    assert f"{release}/secrets/secret_key" in listing
    assert "/etc/letsencrypt/live/flaskapp/privkey.pem" in listing
    assert f"{DATA}/shop.db\n" not in listing
    # The backup's secrets are root's alone, and never in the play output.
    for name in ("password", "environment.json", "id_sftp", "ssh_config"):
        secret = vps.file(f"/etc/flaskapp-backup/{name}")
        assert (secret.uid, secret.gid, secret.mode) == (0, 0, 0o600), name
    assert vps.file("/etc/flaskapp-backup").mode == 0o700
    password = vps.check_output("cat /etc/flaskapp-backup/password")
    log = (ephemeral_dir / "ansible.log").read_text(encoding="utf-8")
    assert "Write the repository password and restic's environment" in log
    assert password not in log


def test_an_unknown_snapshot_is_refused_before_any_change(vps, internet, snapshot):
    started, files, notes = live_container_started(vps), data_files(vps), rows(vps)
    rc, output = run_playbook("playbooks/restore.yml", extra_vars={"snapshot": "0123abcd"})
    assert rc != 0
    assert "snapshot 0123abcd is not in the repository sftp:backup-vps@production-backup:/srv/restic/flaskapp" \
        in output, output[-3000:]
    assert "Nothing was changed" in output
    assert live_container_started(vps) == started
    assert (data_files(vps), rows(vps)) == (files, notes)
    assert vps.service("flaskapp-watchdog.timer").is_running
    assert read_note(internet, snapshot[3]) == "kept by the backup"


def recreate_vps():
    """A new, empty VPS with the old one's name, network names and SSH port,
    as Molecule created it (molecule.yml), handed over by prepare.yml."""
    aliases = [arg for name in ("flask-vps.test", "www.flask-vps.test", "shop.flask-vps.test")
               for arg in ("--network-alias", name)]
    start_vps(VPS, "--network", NETWORK, *aliases, "--publish", f"127.0.0.1:{SSH_PORT}:22")
    # The VPS only: the other containers are as prepare.yml left them.
    rc, output = run_playbook(str(SCENARIO_DIR / "prepare.yml"), args=["--limit", f"localhost,{VPS}"])
    assert rc == 0, output[-3000:]


def test_a_destroyed_vps_comes_back_with_the_snapshot_data(vps, internet, snapshot):
    snapshot_id, notes, files, note_id = snapshot
    later_id = write_note(internet, "written after the backup")
    write_files(vps, "after.bin")
    assert data_files(vps) != files

    first_deploy = vps.file("/srv/flaskapp/ledger.jsonl").content_string.splitlines()[0]
    recreate_vps()
    for run in ("as root", "as the deploy user"):
        rc, output = run_playbook("site.yml")
        assert rc == 0, f"site.yml {run}: {output[-3000:]}"
    assert rows(vps) != notes  # a new, empty database

    # The new VPS is another machine: its own latest snapshot does not exist,
    # and the dead VPS's is restored only when asked for by name.
    rc, output = run_playbook("playbooks/restore.yml")
    assert rc != 0
    assert "has no snapshot of flaskapp from this VPS" in output, output[-3000:]
    assert f"{snapshot_id[:8]} of " in output and "restore_from_another_vps=true" in output, output[-3000:]
    assert rows(vps) != notes

    rc, output = run_playbook("playbooks/restore.yml", extra_vars={"restore_from_another_vps": True})
    assert rc == 0, output[-3000:]
    assert f"Restoring snapshot {snapshot_id[:8]} of flaskapp" in output, output[-3000:]
    assert "What it replaced is kept in /srv/flaskapp/.data.before-restore-" in output, output[-3000:]
    # The jobs stopped too while the data went back (nothing wrote to it), and run again after.
    assert re.search(r"changed: \[production-vps\] => \(item=flaskapp-job-digest\.timer\)", output), output[-3000:]
    assert vps.service("flaskapp-job-digest.timer").is_running
    assert rows(vps) == notes
    assert data_files(vps) == files
    assert read_note(internet, note_id) == "kept by the backup"
    assert read_note(internet, later_id) is None
    assert vps.run(f"test -e {DATA}/uploads/after.bin").rc != 0
    owner = vps.file(f"{DATA}/uploads/before.bin")
    assert (owner.uid, owner.gid) == (10001, 10001)
    # The app writes on where the snapshot ends.
    assert read_note(internet, write_note(internet, "after the restore")) == "after the restore"
    assert vps.service("flaskapp-watchdog.timer").is_running
    # The deploy ledger has the dead VPS's lines back, the new one's, and the restore, in time order.
    ledger = vps.file("/srv/flaskapp/ledger.jsonl").content_string.splitlines()
    assert ledger[0] == first_deploy
    assert [json.loads(line)["time"] for line in ledger] == sorted(json.loads(line)["time"] for line in ledger)
    assert json.loads(ledger[-1])["action"] == "restore" and json.loads(ledger[-1])["result"] == "ok"


def test_the_timer_backs_up_by_itself(vps):
    before = status(vps)["snapshot"]
    deploy(backup_on_calendar="*:*:0/15", backup_randomized_delay="0")
    try:
        # A new snapshot in the status, and the unit's journal line for that
        # snapshot (written just after the status; every 15 s the timer may
        # finish another backup, so both are read again until they agree).
        deadline = time.monotonic() + 120
        while True:
            snapshot = status(vps)["snapshot"]
            journal = vps.check_output("journalctl -u flaskapp-backup.service --output=cat -n 50")
            if snapshot not in (None, before) and f"snapshot {snapshot}" in journal:
                break
            assert time.monotonic() < deadline, (snapshot, journal)
            time.sleep(3)
    finally:
        deploy()
    assert "OnCalendar=daily" in vps.file("/etc/systemd/system/flaskapp-backup.timer").content_string


def test_an_unreachable_server_fails_the_unit_and_notifies(vps):
    last = status(vps)["snapshot"]
    subprocess.run(["docker", "network", "disconnect", NETWORK, BACKUP_SERVER], check=True)
    try:
        assert vps.run("systemctl start flaskapp-backup.service").rc != 0
        assert vps.check_output("systemctl is-failed flaskapp-backup.service || true") == "failed"
        journal = vps.check_output("journalctl -u flaskapp-backup.service --output=cat -n 30")
        assert "backup of flaskapp FAILED: the repository sftp:backup-vps@production-backup" in journal
        assert f"Last good backup {last}" in journal
        for _ in range(30):
            alert = vps.run("journalctl -t flaskapp-backup-alert --output=cat").stdout
            if "flaskapp-backup.service failed" in alert:
                break
            time.sleep(1)
        assert "flaskapp-backup.service failed" in alert
        rc, output = run_playbook("playbooks/backup.yml")
        assert rc != 0
        assert "The backup of flaskapp failed" in output and "FAILED" in output, output[-3000:]
        assert status(vps)["snapshot"] == last
    finally:
        subprocess.run(["docker", "network", "connect", NETWORK, BACKUP_SERVER], check=True)
        vps.run("systemctl reset-failed flaskapp-backup.service")


DRILL = "flaskapp-backup-drill.service"
REPOSITORY = "/srv/restic/flaskapp"  # on the backup server


def drill_journal(vps):
    return vps.check_output(f"journalctl -u {DRILL} --output=cat -n 30")


def test_the_restore_drill_is_scheduled_and_passes_after_a_backup(vps):
    assert "flaskapp-backup-drill.timer" in vps.check_output("systemctl list-timers --no-pager")
    unit = vps.check_output(f"systemctl show --property=MemoryMax --property=CPUQuotaPerSecUSec {DRILL}")
    assert "MemoryMax=1073741824" in unit and "CPUQuotaPerSecUSec=1s" in unit, unit
    write_files(vps, "drill.bin")
    rc, output = run_playbook("playbooks/backup.yml")
    assert rc == 0, output[-3000:]
    assert vps.run(f"systemctl start {DRILL}").rc == 0, drill_journal(vps)
    journal = drill_journal(vps)
    assert "Restore drill of flaskapp passed" in journal, journal
    assert "1 SQLite database checked, the PostgreSQL dump restored: " in journal
    drill = status(vps)["drill"]
    assert drill["last"]["ok"] and drill["verified"]["snapshot"] == drill["last"]["snapshot"]
    # Nothing of the drill is left: its container, its directory.
    assert vps.check_output("docker ps --all --quiet --filter label=flask-vps.backup-drill") == ""
    assert vps.run("ls -d /srv/flaskapp/.data.drill-*").rc != 0
    rc, output = run_playbook("playbooks/status.yml")
    assert rc == 0, output[-3000:]
    assert re.search(r"Backups of flaskapp: Last verified restore: [0-9]+ (s|min) ago \(snapshot "
                     + drill["verified"]["snapshot"][:8], output), output[-3000:]


def pack_of(vps, blob):
    """The repository's pack file that holds this blob (from restic's index), and the blob's place in it."""
    for index in vps.check_output("flaskapp-backup restic list index").split():
        for pack in json.loads(vps.check_output(f"flaskapp-backup restic cat index {index}"))["packs"]:
            for found in pack["blobs"]:
                if found["id"] == blob:
                    return f"{REPOSITORY}/data/{pack['id'][:2]}/{pack['id']}", found
    raise AssertionError(f"no pack holds {blob}")


def test_a_corrupted_pack_fails_the_drill_and_alerts(vps):
    """The pack of drill.bin (one chunk: its blob id is its sha256), in the
    snapshot the last test's drill verified, corrupted on the server."""
    verified = status(vps)["drill"]["verified"]
    blob = vps.check_output(f"sha256sum {DATA}/uploads/drill.bin").split()[0]
    path, found = pack_of(vps, blob)

    def on_server(*command):
        subprocess.run(["docker", "exec", BACKUP_SERVER, *command], check=True, capture_output=True)

    on_server("cp", "-p", path, "/root/pack.orig")
    try:
        on_server("sh", "-c", f"printf corrupted | dd of={path} bs=1 seek={found['offset'] + found['length'] // 2} "
                              "conv=notrunc status=none")
        assert vps.run(f"systemctl start {DRILL}").rc != 0
        assert vps.check_output(f"systemctl is-failed {DRILL} || true") == "failed"
        journal = drill_journal(vps)
        assert "drill of flaskapp FAILED: the restore drill of snapshot " in journal, journal
        assert "restic restore failed" in journal and "drill.bin" in journal
        for _ in range(30):
            alert = vps.run("journalctl -t flaskapp-backup-alert --output=cat").stdout
            if f"{DRILL} failed" in alert:
                break
            time.sleep(1)
        assert f"{DRILL} failed" in alert
        drill = status(vps)["drill"]
        assert not drill["last"]["ok"] and drill["verified"] == {**verified, "age_seconds": drill["verified"]["age_seconds"]}
        assert "FAILED: restic restore failed" in drill["message"]
        assert vps.check_output("docker ps --all --quiet --filter label=flask-vps.backup-drill") == ""
        assert vps.run("ls -d /srv/flaskapp/.data.drill-*").rc != 0
    finally:
        on_server("cp", "-p", "/root/pack.orig", path)
        vps.run(f"systemctl reset-failed {DRILL}")
