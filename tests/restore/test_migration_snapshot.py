"""Snapshots before a release command and their restore (the backup
script's `snapshot`, `migration` and `snapshot-restore`, which
playbooks/rollback.yml -e with_data=true runs) against a real PostgreSQL
and real SQLite databases owned by another user, as the app's are."""

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import IMAGE, PASSWORD, SCRIPT, query

# The system's python3, as on the VPS: the SQLite copies run as the
# database's owner, who cannot reach a virtualenv in root's home.
PYTHON = shutil.which("python3", path="/usr/bin")
OWNER = 65534


def script(*args):
    result = subprocess.run([PYTHON, str(SCRIPT), *args], capture_output=True, text=True, check=False, timeout=120)
    return result


def ok(*args):
    result = script(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def mode(path):
    return os.stat(path).st_mode & 0o777


def listing(postgres, dump):
    with open(dump, "rb") as source:
        return subprocess.run(["docker", "exec", "-i", postgres, "pg_restore", "--list"], stdin=source,
                              capture_output=True, text=True, check=True).stdout


@pytest.fixture
def data():
    """A data directory the app's user (nobody here) can reach."""
    path = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="snapshot-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def migrated(stack, postgres):
    """The stack's database at migration 0001, with a row written before the snapshot."""
    query(postgres, "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);"
                    "INSERT INTO alembic_version VALUES ('0001');"
                    "INSERT INTO notes (text) VALUES ('before the release');")
    return stack


def test_a_snapshot_restore_brings_back_the_rows_and_the_table_a_migration_dropped(migrated, postgres, data):
    snapshots = migrated / "srv" / "snapshots"
    taken = ok("snapshot", str(snapshots / "r2"), "--data-dir", str(data), "--postgres-container", postgres,
               "--labels", '{"release": "r2", "live": "r1"}')
    assert taken["migration"] == "0001" and taken["postgres"] == "postgres.dump"
    assert (taken["release"], taken["live"]) == ("r2", "r1")
    # Root's alone: the dump holds every row.
    assert mode(snapshots) == mode(snapshots / "r2") == 0o700
    assert mode(snapshots / "r2" / "postgres.dump") == mode(snapshots / "r2" / "snapshot.json") == 0o600
    assert json.loads((snapshots / "r2" / "snapshot.json").read_text())["time"] == taken["time"]
    # The release's migration, and writes after it.
    query(postgres, "UPDATE alembic_version SET version_num = '0002';"
                    "CREATE TABLE tags (id serial PRIMARY KEY, name text);"
                    "INSERT INTO tags (name) VALUES ('after the release');"
                    "DROP TABLE notes;")
    assert ok("migration", "--data-dir", str(data), "--postgres-container", postgres,
              "--record", str(snapshots / "r2")) == {"migration": "0002"}
    assert json.loads((snapshots / "r2" / "snapshot.json").read_text())["migration_after"] == "0002"

    kept = migrated / "srv" / "snapshots" / "before-rollback-1"
    restored = ok("snapshot-restore", str(snapshots / "r2"), "--kept", str(kept), "--data-dir", str(data),
                  "--postgres-container", postgres)
    assert restored == {"restored": ["the PostgreSQL database"], "time": taken["time"], "migration": "0001",
                        "kept": str(kept)}
    assert query(postgres, "SELECT text FROM notes ORDER BY id") == "in the snapshot\nbefore the release"
    assert query(postgres, "SELECT to_regclass('public.tags') IS NULL") == "t"
    assert query(postgres, "SELECT version_num FROM alembic_version") == "0001"
    # The database as it was is kept, root's alone, with the later table.
    assert mode(kept) == 0o700 and mode(kept / "postgres.dump") == 0o600
    kept_tables = listing(postgres, kept / "postgres.dump")
    assert "TABLE public tags" in kept_tables and "TABLE public notes" not in kept_tables


def test_a_snapshot_replaces_the_release_s_earlier_one_and_a_failed_one_leaves_it(migrated, postgres, data):
    snapshots = migrated / "srv" / "snapshots"
    first = ok("snapshot", str(snapshots / "r2"), "--data-dir", str(data), "--postgres-container", postgres)
    query(postgres, "INSERT INTO notes (text) VALUES ('between the two deploys')")
    second = ok("snapshot", str(snapshots / "r2"), "--data-dir", str(data), "--postgres-container", postgres)
    assert second["epoch"] >= first["epoch"]
    assert "between the two deploys" in subprocess.run(
        ["docker", "exec", "-i", postgres, "pg_restore", "--data-only", "--file=-"],
        stdin=(snapshots / "r2" / "postgres.dump").open("rb"), capture_output=True, text=True, check=True).stdout
    # A PostgreSQL that cannot be dumped: the earlier snapshot stays whole.
    failed = script("snapshot", str(snapshots / "r2"), "--data-dir", str(data), "--postgres-container",
                    "no-such-container")
    assert failed.returncode == 1 and "snapshot FAILED: pg_dump in no-such-container failed" in failed.stderr
    assert json.loads((snapshots / "r2" / "snapshot.json").read_text())["epoch"] == second["epoch"]
    assert sorted(p.name for p in snapshots.iterdir()) == ["r2"]


def test_a_failed_restore_leaves_the_database_as_it_was_and_keeps_nothing(migrated, postgres, data):
    snapshots = migrated / "srv" / "snapshots"
    ok("snapshot", str(snapshots / "r2"), "--data-dir", str(data), "--postgres-container", postgres)
    query(postgres, "INSERT INTO notes (text) VALUES ('after the snapshot')")
    dump = snapshots / "r2" / "postgres.dump"
    dump.write_bytes(dump.read_bytes()[:-200])
    kept = snapshots / "before-rollback-1"
    failed = script("snapshot-restore", str(snapshots / "r2"), "--kept", str(kept), "--data-dir", str(data),
                    "--postgres-container", postgres)
    assert failed.returncode == 1 and "the database is as it was" in failed.stderr, failed.stderr
    assert query(postgres, "SELECT count(*) FROM notes") == "3"
    assert not kept.exists()


def test_a_missing_snapshot_or_one_without_the_dump_is_refused_before_any_change(migrated, postgres, data):
    snapshots = migrated / "srv" / "snapshots"
    kept = snapshots / "before-rollback-1"
    missing = script("snapshot-restore", str(snapshots / "r9"), "--kept", str(kept), "--data-dir", str(data),
                     "--postgres-container", postgres)
    assert missing.returncode == 1 and f"there is no snapshot in {snapshots / 'r9'}" in missing.stderr
    ok("snapshot", str(snapshots / "r2"), "--data-dir", str(data), "--postgres-container", postgres)
    (snapshots / "r2" / "postgres.dump").unlink()
    query(postgres, "INSERT INTO notes (text) VALUES ('after the snapshot')")
    lacking = script("snapshot-restore", str(snapshots / "r2"), "--kept", str(kept), "--data-dir", str(data),
                     "--postgres-container", postgres)
    assert lacking.returncode == 1 and "lacks postgres.dump" in lacking.stderr
    assert query(postgres, "SELECT count(*) FROM notes") == "3"
    assert not kept.exists()


def test_no_database_no_snapshot(tmp_path, data):
    (data / "upload.bin").write_bytes(b"SQLite format 3")  # not a database
    assert ok("snapshot", str(tmp_path / "snapshots" / "r2"), "--data-dir", str(data))["snapshot"] is None
    assert not (tmp_path / "snapshots").exists()
    assert ok("migration", "--data-dir", str(data)) == {"migration": None}


def sqlite_db(path, statements):
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    db.close()


def test_sqlite_databases_come_back_with_their_owner_and_the_migration_version(tmp_path, data):
    (data / "sub").mkdir()
    app_db, other_db = data / "app.db", data / "sub" / "other.sqlite"
    sqlite_db(app_db, ["PRAGMA journal_mode=WAL",
                       "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)",
                       "INSERT INTO notes (text) VALUES ('before the release')",
                       "CREATE TABLE alembic_version (version_num TEXT PRIMARY KEY)",
                       "INSERT INTO alembic_version VALUES ('0001')"])
    sqlite_db(other_db, ["CREATE TABLE t (x)", "INSERT INTO t VALUES (1)"])
    # The data directory is the app user's, as on the VPS.
    for path in (data, data / "sub", app_db, other_db):
        os.chown(path, OWNER, OWNER)
    os.chmod(app_db, 0o640)
    snapshots = tmp_path / "snapshots"
    taken = ok("snapshot", str(snapshots / "r2"), "--data-dir", str(data))
    assert taken["migration"] == "0001" and taken["postgres"] is None
    assert [db["path"] for db in taken["sqlite"]] == ["app.db", "sub/other.sqlite"]
    copy = snapshots / "r2" / "sqlite" / "app.db"
    assert (copy.stat().st_uid, mode(copy)) == (0, 0o600)

    # The migration and writes, by the app's user, with the WAL left behind.
    writer = sqlite3.connect(app_db)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("INSERT INTO notes (text) VALUES ('after the release')")
    writer.execute("UPDATE alembic_version SET version_num = '0002'")
    writer.execute("DROP TABLE notes")
    writer.commit()
    for path in data.glob("app.db*"):
        os.chown(path, OWNER, OWNER)
    assert ok("migration", "--data-dir", str(data)) == {"migration": "0002"}
    writer.close()
    sqlite_db(other_db, ["INSERT INTO t VALUES (2)"])

    kept = snapshots / "before-rollback-1"
    restored = ok("snapshot-restore", str(snapshots / "r2"), "--kept", str(kept), "--data-dir", str(data))
    assert restored["restored"] == ["app.db", "sub/other.sqlite"]
    with sqlite3.connect(app_db) as db:
        assert db.execute("SELECT text FROM notes").fetchall() == [("before the release",)]
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
    db.close()
    with sqlite3.connect(other_db) as db:
        assert db.execute("SELECT x FROM t").fetchall() == [(1,)]
    db.close()
    assert (app_db.stat().st_uid, mode(app_db)) == (OWNER, 0o640)
    assert not (data / "app.db-wal").exists() or (data / "app.db-wal").stat().st_size == 0
    # What it replaced is kept: the dropped table gone, the later version.
    with sqlite3.connect(kept / "sqlite" / "app.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0002",)]
        assert not db.execute("SELECT name FROM sqlite_master WHERE name = 'notes'").fetchall()
    db.close()
    assert mode(kept) == 0o700


def test_a_rehearsal_runs_on_a_throwaway_copy_of_the_snapshot_never_the_live_database(migrated, postgres, data):
    """app_release_command_rehearsal: the snapshot restored into a throwaway
    PostgreSQL made for the release's connection string (its user, password,
    database and host name, on a network of its own); a migration there
    leaves the live database as it was; stopping removes it all."""
    snapshots = migrated / "srv" / "snapshots"
    ok("snapshot", str(snapshots / "r2"), "--data-dir", str(data), "--postgres-container", postgres)
    name = f"{postgres}-rehearsal"
    url = migrated / "database_url"
    url.write_text(f"postgresql://rehearser:{PASSWORD}@db.internal:5432/shop\n")
    started = ok("rehearsal-start", str(snapshots / "r2"), "--postgres-container", postgres, "--name", name,
                 "--connection-file", str(url))
    try:
        assert started["container"] == started["network"] == name
        inspected = json.loads(subprocess.run(["docker", "inspect", name], capture_output=True, text=True,
                                              check=True).stdout)[0]
        assert list(inspected["NetworkSettings"]["Networks"]) == [name]
        # The password is on no command line.
        assert PASSWORD not in " ".join(inspected["Args"] + [inspected["Path"]])
        client = ["docker", "run", "--rm", "--network", name, IMAGE, "psql", "-tA", "-v", "ON_ERROR_STOP=1",
                  f"postgresql://rehearser:{PASSWORD}@db.internal/shop", "-c"]
        migration = "UPDATE alembic_version SET version_num = '0002'; DROP TABLE notes; SELECT version_num FROM alembic_version"
        rehearsed = subprocess.run([*client, migration], capture_output=True, text=True, check=False, timeout=120)
        assert rehearsed.returncode == 0 and rehearsed.stdout.split()[-1] == "0002", rehearsed.stderr
        assert query(postgres, "SELECT version_num FROM alembic_version") == "0001"
        assert query(postgres, "SELECT count(*) FROM notes") == "2"
    finally:
        assert ok("rehearsal-stop", "--name", name) == {"removed": name}
    assert subprocess.run(["docker", "inspect", name], capture_output=True, check=False).returncode != 0
    assert subprocess.run(["docker", "network", "inspect", name], capture_output=True, check=False).returncode != 0


def test_a_rehearsal_without_a_dump_starts_nothing(tmp_path, postgres, data):
    snapshots = tmp_path / "snapshots"
    (data / "app.db").write_bytes(b"")
    sqlite_db(data / "app.db", ["CREATE TABLE t (x)"])
    ok("snapshot", str(snapshots / "r2"), "--data-dir", str(data))
    failed = script("rehearsal-start", str(snapshots / "r2"), "--postgres-container", postgres, "--name",
                    f"{postgres}-rehearsal", "--connection-file", "/nonexistent")
    assert failed.returncode == 1 and "holds no PostgreSQL dump to rehearse on" in failed.stderr
    assert subprocess.run(["docker", "inspect", f"{postgres}-rehearsal"], capture_output=True,
                          check=False).returncode != 0
