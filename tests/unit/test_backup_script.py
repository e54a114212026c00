"""The backup role's script (roles/backup/files/backup.py): its parts on their
own, and a backup and a restore against a local restic repository when
restic is installed (PostgreSQL is left to the production scenario)."""

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
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
        pytest.fail("restic is not installed: `make unit` installs it (scripts/ensure-restic.sh)")
    data = tmp_path / "srv" / "data"
    (data / "uploads").mkdir(parents=True)
    (data / "uploads" / "a.bin").write_bytes(os.urandom(4096))
    with sqlite3.connect(data / "app.db") as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        db.execute("INSERT INTO notes (text) VALUES ('in the snapshot')")
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
        "environment_file": str(tmp_path / "environment.json"),
    }
    (tmp_path / "environment.json").write_text("{}")
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def run(stack, *args):
    env = {**os.environ, "FLASK_VPS_BACKUP_CONFIG": str(stack / "config.json")}
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False)


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
    assert (stack / "srv" / ".data.before-restore" / "uploads" / "later.bin").exists()
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
