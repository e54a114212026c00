"""The backup role's script (roles/backup/files/backup.py): its parts on their
own, and a backup and a restore against a local restic repository when
restic is installed (PostgreSQL in tests/restore)."""

import fcntl
import importlib.util
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "roles/backup/files/backup.py"
spec = importlib.util.spec_from_file_location("backup_script", SCRIPT)
backup = importlib.util.module_from_spec(spec)
spec.loader.exec_module(backup)


@pytest.mark.parametrize(("repository", "command"), [
    ("/var/backups/app", None),
    ("s3:https://s3.example.com/bucket/app", None),
    ("sftp:backup@host.example:/srv/restic", "ssh -F /c -l backup host.example -s sftp"),
    ("sftp:host.example:restic", "ssh -F /c host.example -s sftp"),
    ("sftp://backup@host.example:2222//srv/restic", "ssh -F /c -p 2222 -l backup host.example -s sftp"),
    ("sftp:backup@[2001:db8::1]:/srv/restic", "ssh -F /c -l backup 2001:db8::1 -s sftp"),
])
def test_sftp_command(repository, command):
    assert backup.sftp_command(repository, "/c") == command


def test_display_hides_a_password_in_the_url():
    assert backup.display("rest:https://user:secret@host.example:8000/app") == "rest:https://user:***@host.example:8000/app"
    assert backup.display("sftp:backup@host:/srv/restic") == "sftp:backup@host:/srv/restic"


def test_restic_pattern_matches_the_path_only():
    assert backup.restic_pattern("/data/a*[1]?.db") == "/data/a\\*\\[1\\]\\?.db"


def test_sqlite_databases_are_found_by_their_header(tmp_path):
    (tmp_path / "sub").mkdir()
    with sqlite3.connect(tmp_path / "sub" / "notes.sqlite") as db:
        db.execute("CREATE TABLE t (x)")
    (tmp_path / "app.db").write_bytes(b"not a database")
    (tmp_path / "upload.bin").write_bytes(b"SQLite format 3")  # too short
    assert backup.sqlite_databases(tmp_path) == ["sub/notes.sqlite"]


def test_sqlite_copy_is_consistent_while_a_writer_holds_the_wal(tmp_path):
    # As root, the database belongs to another user (the app's, on the VPS),
    # who can reach it but not root's directories.
    owner = 65534 if os.geteuid() == 0 else os.geteuid()
    data = Path(tempfile.mkdtemp(dir="/var/tmp"))
    scratch = Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        for path in (data, scratch):
            path.chmod(0o1777 if path == scratch else 0o755)
        live = data / "live.db"
        writer = sqlite3.connect(live)
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        writer.executemany("INSERT INTO notes (text) VALUES (?)", [(f"note {i}",) for i in range(100)])
        writer.commit()
        writer.execute("INSERT INTO notes (text) VALUES ('not committed')")  # an open transaction
        for path in (live, data / "live.db-wal", data / "live.db-shm"):
            os.chown(path, owner, owner)
        os.chmod(live, 0o640)
        staging = tmp_path / "staging"
        staging.mkdir(mode=0o700)
        # The system's python3, as on the VPS (the test's may be in root's home).
        backup.copy_sqlite(str(live), str(staging / "copy.db"), str(scratch), shutil.which("python3", path="/usr/bin"))
        writer.rollback()
        writer.close()
        copy = staging / "copy.db"
        with sqlite3.connect(copy) as db:
            assert db.execute("SELECT count(*) FROM notes").fetchone() == (100,)
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert (copy.stat().st_uid, copy.stat().st_mode & 0o777) == (owner, 0o640)
        assert not list(scratch.iterdir())
        assert sorted(p.name for p in data.iterdir()) == ["live.db"]
    finally:
        shutil.rmtree(data)
        shutil.rmtree(scratch)


@pytest.fixture
def stack(tmp_path):
    """A stack's files and a config pointing at a local repository."""
    if not shutil.which("restic"):
        pytest.fail("restic is not installed: `make unit` installs it (lab/scripts/ensure-restic.sh)")
    data = tmp_path / "srv" / "data"
    (data / "uploads").mkdir(parents=True)
    (data / "uploads" / "a.bin").write_bytes(os.urandom(4096))
    with sqlite3.connect(data / "app.db") as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        db.execute("INSERT INTO notes (text) VALUES ('in the snapshot')")
    # Closed now, not whenever it is collected: closing removes the -wal and
    # -shm files, which a copy of the directory must not see vanish.
    db.close()
    secrets = tmp_path / "srv" / "releases" / "r1" / "secrets"
    secrets.mkdir(parents=True)
    (secrets / "secret_key").write_text("s3cret")
    (tmp_path / "srv" / "current").symlink_to("releases/r1")
    (tmp_path / "password").write_text("repository password")
    config = {
        "name": "demo", "repository": str(tmp_path / "repo"), "password_file": str(tmp_path / "password"),
        "cache_dir": str(tmp_path / "cache"), "state_dir": str(tmp_path / "state"),
        "staging_dir": str(tmp_path / "state" / "staging"), "data_dir": str(data),
        "paths": [str(tmp_path / "srv" / "current" / "secrets"), str(tmp_path / "etc" / "letsencrypt")],
        "postgres_container": "", "keep": {"last": 7, "daily": 7, "weekly": 4, "monthly": 6},
        "environment_file": str(tmp_path / "environment.json"), "host": "my-vps",
        "machine_id_file": str(tmp_path / "machine-id"), "lock_timeout": 5,
    }
    (tmp_path / "machine-id").write_text("0a1b2c3d4e5f60718293a4b5c6d7e8f9\n")
    (tmp_path / "environment.json").write_text("{}")
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def run(stack, *args):
    env = {**os.environ, "FLASK_VPS_BACKUP_CONFIG": str(stack / "config.json")}
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False,
                          timeout=120)


def tree(path):
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(Path(path).rglob("*")) if p.is_file()}


def test_backup_then_restore_brings_back_the_snapshot(stack):
    data = stack / "srv" / "data"
    first = run(stack, "backup")
    assert first.returncode == 0, first.stderr
    assert "Created the restic repository" in first.stdout and "Backup of demo done: snapshot" in first.stdout
    status = json.loads(run(stack, "status").stdout)
    assert status["age_seconds"] < 60
    snapshot = status["snapshot"]
    assert status["message"].startswith(f"Last good backup {snapshot} at ")
    assert json.loads(run(stack, "find", "latest").stdout)["short_id"] == snapshot[:8]
    assert run(stack, "check").returncode == 0
    with sqlite3.connect(data / "app.db") as db:
        files = {k: v for k, v in tree(data).items() if not k.startswith("app.db")}
        db.execute("INSERT INTO notes (text) VALUES ('after the snapshot')")
    (data / "uploads" / "later.bin").write_bytes(b"later")
    # The snapshot holds the secrets behind the current symlink, not the live SQLite files.
    listing = run(stack, "restic", "ls", snapshot).stdout
    assert f"{stack}/srv/releases/r1/secrets/secret_key" in listing
    assert f"{data}/app.db\n" not in listing and f"{data}/app.db-wal" not in listing
    assert f"{stack}/state/staging/sqlite/app.db" in listing

    missing = run(stack, "find", "0123abcd")
    assert missing.returncode == 3 and "snapshot 0123abcd is not in the repository" in missing.stderr
    staged = run(stack, "stage", snapshot[:8])
    assert staged.returncode == 0, staged.stderr
    assert (data / "uploads" / "later.bin").exists()  # staging changes nothing live
    applied = run(stack, "apply")
    assert applied.returncode == 0, applied.stderr
    restored = tree(data)
    assert {k: v for k, v in restored.items() if not k.startswith("app.db")} == files
    with sqlite3.connect(data / "app.db") as db:
        assert db.execute("SELECT text FROM notes").fetchall() == [("in the snapshot",)]
    [kept] = (stack / "srv").glob(".data.before-restore-*")
    assert (kept / "data" / "uploads" / "later.bin").exists()
    assert f"What it replaced is kept in {kept}" in applied.stdout
    assert not (stack / "srv" / ".data.restore").exists()


def test_an_unreachable_repository_fails_and_says_so(stack):
    config = json.loads((stack / "config.json").read_text())
    config["repository"] = "sftp:nobody@unreachable.invalid:/srv/restic"
    config["ssh_config"] = str(stack / "ssh_config")
    (stack / "ssh_config").write_text("BatchMode yes\nConnectTimeout 5\n")
    (stack / "config.json").write_text(json.dumps(config))
    failed = run(stack, "backup")
    assert failed.returncode == 1
    assert "backup of demo FAILED: the repository sftp:nobody@unreachable.invalid:/srv/restic" in failed.stderr
    assert "No good backup yet." in failed.stderr
    refused = run(stack, "find", "latest")
    assert refused.returncode == 2 and "Nothing was changed" in refused.stderr


def config_of(stack):
    return json.loads((stack / "config.json").read_text())


def set_config(stack, **changes):
    (stack / "config.json").write_text(json.dumps({**config_of(stack), **changes}))


def backed_up(stack):
    done = run(stack, "backup")
    assert done.returncode == 0, done.stderr
    return json.loads(run(stack, "status").stdout)["snapshot"]


def live_state(stack):
    """Every file under the stack's directory, as bytes: what a refused
    restore must leave exactly as it was."""
    return tree(stack / "srv")


def test_a_snapshot_without_the_data_directory_is_refused_before_any_change(stack):
    """Reproduction: the data directory moved since the backup (or the
    snapshot is another stack's); staging used to create an empty directory,
    apply put it in place of the live data, and the play was green."""
    backed_up(stack)
    moved = stack / "srv" / "data2"
    shutil.copytree(stack / "srv" / "data", moved)
    set_config(stack, data_dir=str(moved))
    before = live_state(stack)
    staged = run(stack, "stage", "latest")
    assert staged.returncode == 4, staged.stdout + staged.stderr
    assert f"holds no {moved}" in staged.stderr and "Nothing was changed" in staged.stderr
    assert live_state(stack) == before
    assert not (stack / "srv" / ".data2.restore").exists()
    assert run(stack, "apply").returncode == 1  # nothing staged, nothing to put in place


def test_a_snapshot_named_by_id_from_another_vps_is_refused_unless_asked_for(stack):
    """Reproduction: `-e snapshot=<id>` of another host's or stack's snapshot
    in a shared repository was restored without a word (only `latest` was
    filtered by host and tag)."""
    snapshot = backed_up(stack)
    (stack / "machine-id").write_text("ffffffffffffffffffffffffffffffff\n")  # a new VPS, same inventory name
    set_config(stack, host="staging-vps")
    refused = run(stack, "find", snapshot[:8])
    assert refused.returncode == 4, refused.stderr
    assert "it was taken on host my-vps, this is staging-vps" in refused.stderr
    assert "it was taken on another machine (0a1b2c3d4e5f60718293a4b5c6d7e8f9" in refused.stderr
    assert "restore_from_another_vps=true" in refused.stderr
    assert run(stack, "stage", snapshot[:8]).returncode == 4
    asked = run(stack, "find", snapshot[:8], "--from-another-vps")
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["short_id"] == snapshot[:8]


def test_a_new_vps_restores_the_dead_one_s_latest_not_its_own_empty_backup(stack):
    """After a disaster the new VPS (same inventory name, new machine) may
    already have backed up its empty stack: `latest` with
    --from-another-vps is the dead VPS's newest, never the new one's."""
    dead = backed_up(stack)
    (stack / "machine-id").write_text("ffffffffffffffffffffffffffffffff\n")
    shutil.rmtree(stack / "srv" / "data" / "uploads")
    backed_up(stack)  # the empty stack's first scheduled backup
    assert json.loads(run(stack, "find", "latest").stdout)["short_id"] != dead[:8]
    found = run(stack, "find", "latest", "--from-another-vps")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["short_id"] == dead[:8]


def test_two_vps_sharing_a_repository_and_a_host_name_never_mix(stack, tmp_path_factory):
    """Reproduction: a production and a staging inventory copied from the
    README's example both back up as `my-vps` into one repository; `forget`
    pruned each other's snapshots and `latest` restored staging onto
    production. Each machine's id now tells them apart."""
    production = backed_up(stack)
    staging = tmp_path_factory.mktemp("staging")
    shutil.copytree(stack / "srv", staging / "srv", symlinks=True)
    (staging / "machine-id").write_text("5555aaaa5555aaaa5555aaaa5555aaaa\n")
    config = {**config_of(stack), "data_dir": str(staging / "srv" / "data"),
              "cache_dir": str(staging / "cache"), "state_dir": str(staging / "state"),
              "staging_dir": str(staging / "state" / "staging"), "machine_id_file": str(staging / "machine-id"),
              "keep": {"last": 1, "daily": 0, "weekly": 0, "monthly": 0}}
    (staging / "config.json").write_text(json.dumps(config))
    # Staging has no snapshot of its own yet: latest is refused, and names production's.
    refused = run(staging, "find", "latest")
    assert refused.returncode == 3, refused.stderr
    assert "has no snapshot of demo from this VPS (my-vps, machine:5555aaaa" in refused.stderr
    assert f"{production[:8]} of " in refused.stderr and "machine 0a1b2c3d" in refused.stderr
    first, second = backed_up(staging), backed_up(staging)  # keep-last 1: staging prunes its own first
    listing = run(stack, "restic", "snapshots", "--json")
    ids = {s["short_id"] for s in json.loads(listing.stdout)}
    assert {production[:8], second[:8]} <= ids and first[:8] not in ids
    assert json.loads(run(stack, "find", "latest").stdout)["short_id"] == production[:8]
    assert json.loads(run(staging, "find", "latest").stdout)["short_id"] == second[:8]


def test_every_restore_keeps_what_it_replaced_and_says_where(stack):
    """Reproduction: each apply deleted the previous `.data.before-restore`:
    restore the wrong snapshot, restore again, and the data that was live
    before the first restore was gone for good."""
    snapshot = backed_up(stack)
    data = stack / "srv" / "data"
    (data / "uploads" / "only-live.bin").write_bytes(b"written after the backup")
    outputs = []
    for _ in range(2):
        assert run(stack, "stage", snapshot).returncode == 0
        applied = run(stack, "apply")
        assert applied.returncode == 0, applied.stderr
        outputs.append(applied.stdout)
        time.sleep(1.1)  # copies are named to the second
    kept = sorted((stack / "srv").glob(".data.before-restore-*"))
    assert len(kept) == 2
    assert (kept[0] / "data" / "uploads" / "only-live.bin").read_bytes() == b"written after the backup"
    assert not (kept[1] / "data" / "uploads" / "only-live.bin").exists()
    for path in kept:
        assert re.search(re.escape(str(path)) + r" \(\d+\.\d MiB\)", outputs[1]), outputs[1]


@pytest.fixture
def mounted_data(stack):
    """The data directory on a volume of its own (a tmpfs: root only)."""
    if os.geteuid() != 0:
        pytest.fail("the mount point tests mount a tmpfs: run them as root, as make unit does on the test machine")
    data = stack / "srv" / "data"
    saved = stack / "saved"
    shutil.copytree(data, saved)
    shutil.rmtree(data)
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=72m", "tmpfs", str(data)], check=True)
    try:
        shutil.copytree(saved, data, dirs_exist_ok=True)
        yield data
    finally:
        subprocess.run(["umount", "--lazy", str(data)], check=True)


def test_a_data_directory_that_is_a_mount_point_is_restored_in_place(stack, mounted_data):
    """Reproduction: with app_data_dir a mount point, apply's os.rename
    failed with EBUSY (a traceback) after the database was already replaced,
    and staging wrote the whole snapshot on the parent filesystem."""
    snapshot = backed_up(stack)
    (mounted_data / "uploads" / "later.bin").write_bytes(b"later")
    staged = run(stack, "stage", snapshot)
    assert staged.returncode == 0, staged.stderr
    staged_data = json.loads(staged.stdout)["data"]
    assert staged_data.startswith(f"{mounted_data}/.restore/")  # on the volume, not on /
    applied = run(stack, "apply")
    assert applied.returncode == 0, applied.stderr
    assert os.path.ismount(mounted_data)
    assert not (mounted_data / "uploads" / "later.bin").exists()
    with sqlite3.connect(mounted_data / "app.db") as db:
        assert db.execute("SELECT text FROM notes").fetchall() == [("in the snapshot",)]
    [kept] = mounted_data.glob(".before-restore-*")
    assert (kept / "data" / "uploads" / "later.bin").read_bytes() == b"later"
    assert not (mounted_data / ".restore").exists()
    # The next backup leaves the kept copy out.
    listing = run(stack, "restic", "ls", backed_up(stack)).stdout
    assert f"{mounted_data}/uploads/a.bin" in listing and ".before-restore-" not in listing


def test_a_snapshot_too_big_for_the_data_filesystem_is_refused_before_any_change(stack, mounted_data):
    (mounted_data / "uploads" / "big.bin").write_bytes(os.urandom(10 * 1024 * 1024))
    snapshot = backed_up(stack)
    before = live_state(stack)
    staged = run(stack, "stage", snapshot)
    assert staged.returncode == 4, staged.stderr
    assert f"needs 10.0 MiB (and 64.0 MiB to spare) on the filesystem of {mounted_data}" in staged.stderr
    assert live_state(stack) == before


def test_a_backup_waiting_for_a_stuck_one_fails_instead_of_hanging(stack):
    """Reproduction: the script's flock waited forever behind a stuck backup,
    so every later timer firing was a no-op and OnFailure never fired."""
    (stack / "state").mkdir(mode=0o700, exist_ok=True)
    with open(stack / "state" / "lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        set_config(stack, lock_timeout=2)
        started = time.monotonic()
        failed = run(stack, "backup")
        assert failed.returncode == 1
        assert "another backup or restore of demo has held" in failed.stderr and "for over 2 s" in failed.stderr
        assert time.monotonic() - started < 30


def test_restic_gets_the_repository_and_its_password_through_its_environment(stack):
    """Reproduction: `--repo rest:http://user:password@...` was on restic's
    command line, readable by any user through ps."""
    config = {**config_of(stack), "repository": "rest:https://backup:s3cret@backup.example/demo", "environment": {}}
    argv = backup.restic_argv(config, "snapshots")
    assert not any("s3cret" in arg or "backup.example" in arg for arg in argv)
    env = backup.restic_env(config)
    assert env["RESTIC_REPOSITORY"] == config["repository"]
    assert env["RESTIC_PASSWORD_FILE"] == config["password_file"]


def test_a_restore_merges_the_ledger_of_the_snapshot_with_the_live_one(stack):
    """The deploy ledger only grows: a restore (onto a new VPS whose ledger
    has its own first deploy) keeps every line of both, in time order."""
    ledger = stack / "srv" / "ledger.jsonl"
    config = json.loads((stack / "config.json").read_text())
    config["merge_paths"] = [str(ledger)]
    config["paths"].append(str(ledger))
    (stack / "config.json").write_text(json.dumps(config))
    old = [{"time": "2026-12-01T10:00:00Z", "action": "deploy"}, {"time": "2026-12-02T10:00:00Z", "action": "rollback"}]
    ledger.write_text("".join(json.dumps(entry) + "\n" for entry in old))
    assert run(stack, "backup").returncode == 0
    new = {"time": "2026-12-03T10:00:00Z", "action": "deploy", "release": "on the new vps"}
    ledger.write_text(json.dumps(new) + "\n")
    assert run(stack, "stage", "latest").returncode == 0
    applied = run(stack, "apply")
    assert applied.returncode == 0, applied.stderr
    assert [json.loads(line) for line in ledger.read_text().splitlines()] == [*old, new]
    assert ledger.stat().st_mode & 0o777 == 0o640


def test_row_counts_are_read_from_the_dump_s_copy_lines():
    sql = (b"SET statement_timeout = 0;\n"
           b"COPY public.notes (id, text) FROM stdin;\n1\tfirst\n2\ta tab\\there, a line\\nthere\n\\.\n\n"
           b'COPY "Shop"."Order Lines" ("Id") FROM stdin;\n\\.\n'
           b"COPY public.empty_columns  FROM stdin;\n\n\\.\n"
           b"SELECT pg_catalog.setval('public.notes_id_seq', 2, true);\n")
    assert backup.copy_row_counts(sql.splitlines(keepends=True)) == {
        "public.notes": 2, '"Shop"."Order Lines"': 0, "public.empty_columns": 1}


def test_count_mismatches_name_each_table():
    assert backup.count_mismatches({"public.a": 2, "public.b": 1, "public.c": 0}, {"public.a": 2, "public.b": 0}) == [
        "public.b has 0 rows restored, 1 in the backup", "public.c has no rows restored, 0 in the backup"]


@pytest.mark.parametrize(("text", "seconds"), [("1h", 3600), ("45m", 2700), ("1h30m", 5400), ("90s", 90)])
def test_drill_time_limits(text, seconds):
    assert backup.duration_seconds(text) == seconds


def test_a_time_limit_that_is_not_a_duration_fails_with_its_value():
    with pytest.raises(backup.Failure, match="the time limit '1 hour' is not a duration"):
        backup.duration_seconds("1 hour")


def test_integrity_check_finds_a_damaged_sqlite_database(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x TEXT)")
        db.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 50)
    db.close()
    assert backup.sqlite_integrity(path) == "ok"
    raw = bytearray(path.read_bytes())
    raw[4096 + 8:4096 + 40] = b"\xff" * 32  # the second page's cell pointers
    path.write_bytes(bytes(raw))
    assert backup.sqlite_integrity(path) != "ok"


def test_the_drill_s_directory_is_on_the_data_filesystem_and_never_backed_up(tmp_path):
    config = {"data_dir": str(tmp_path / "srv" / "data")}
    assert backup.drill_area(config) == (str(tmp_path / "srv"), ".data.drill-")
    assert backup.is_restore_area(".drill-abc123")


def test_the_status_says_when_a_restore_was_last_verified(tmp_path):
    config = {"state_dir": str(tmp_path)}
    assert backup.drill_status(config)["message"] == "Last verified restore: never."
    good = {"epoch": 1_000_000, "time": "t", "snapshot": "0123456789abcdef", "snapshot_time": "2026-12-01T00:00:00Z"}
    (tmp_path / "last-drill.json").write_text(json.dumps(
        {"epoch": 1_000_000 + 7 * 86400, "ok": False, "failures": ["restic restore failed"], "last_ok": good}))
    status = backup.drill_status(config, now=1_000_000 + 8 * 86400)
    assert status["verified"]["age_seconds"] == 8 * 86400
    assert status["message"] == ("Last verified restore: 8 days ago (snapshot 01234567 of 2026-12-01T00:00:00Z); "
                                 "the last drill, 24 h ago, FAILED: restic restore failed.")


def test_a_drill_restores_the_latest_snapshot_elsewhere_and_checks_its_sqlite_copies(stack):
    """Without PostgreSQL (its part: tests/restore/test_restore_drill.py)."""
    assert run(stack, "drill").stdout.startswith("Restore drill of demo: nothing to drill yet, no backup has")
    assert not (stack / "state" / "last-drill.json").exists()
    assert run(stack, "backup").returncode == 0
    drill = run(stack, "drill")
    assert drill.returncode == 0, drill.stderr
    assert "restored and verified, 1 SQLite database checked." in drill.stdout
    assert json.loads((stack / "state" / "last-drill.json").read_text())["ok"]
    assert sorted(p.name for p in (stack / "srv").iterdir()) == ["current", "data", "releases"]


def test_a_drill_over_its_time_limit_fails_stopping_what_it_ran():
    before = signal.getsignal(signal.SIGALRM)
    with pytest.raises(backup.Failure, match=r"the drill ran over its time limit \(backup_drill_time_limit: 1s\)"), \
            backup.time_limit(1, "1s"):
        child = subprocess.Popen(["sleep", "60"])
        try:
            child.wait()
        finally:
            child.kill()
    assert signal.getsignal(signal.SIGALRM) is before
