"""The backup script (roles/backup/files/backup.py) against a real
PostgreSQL: the stack's own image (flask-vps/postgres:17) in a container on
this machine's Docker, reached with `docker exec` as on the VPS."""

import subprocess
import time

from conftest import query, run


def test_a_restore_drops_the_tables_a_later_migration_made(stack, postgres):
    """Reproduction: `pg_restore --clean --if-exists` dropped only the dump's
    objects, so a table created after the snapshot survived with its rows
    while the migration table went back, and the next release command failed
    ("relation already exists") forever."""
    assert run(stack, "backup").returncode == 0
    # A later release's migration, and writes after the backup.
    migration = "CREATE TABLE tags (id serial PRIMARY KEY, name text);"
    query(postgres, migration + "INSERT INTO tags (name) VALUES ('after');"
                    "UPDATE schema_migrations SET version = '002';"
                    "INSERT INTO notes (text) VALUES ('after the snapshot');")
    staged = run(stack, "stage", "latest")
    assert staged.returncode == 0, staged.stderr
    applied = run(stack, "apply")
    assert applied.returncode == 0, applied.stderr
    assert query(postgres, "SELECT to_regclass('public.tags') IS NULL") == "t"
    assert query(postgres, "SELECT version FROM schema_migrations") == "001"
    assert query(postgres, "SELECT text FROM notes") == "in the snapshot"
    # The next release's migration runs again.
    query(postgres, migration)
    # The database as it was before the restore is kept, with the later table.
    [kept] = (stack / "srv").glob(".data.before-restore-*")
    assert f"What it replaced is kept in {kept} (data/, postgres.dump)" in applied.stdout
    listing = subprocess.run(["docker", "exec", "-i", postgres, "pg_restore", "--list"],
                             stdin=(kept / "postgres.dump").open("rb"), capture_output=True, text=True, check=True)
    assert "TABLE public tags" in listing.stdout
    assert (kept / "data" / "upload.bin").read_bytes() == b"uploaded"


def test_a_failed_database_restore_leaves_the_database_and_the_files_as_they_were(stack, postgres):
    assert run(stack, "backup").returncode == 0
    assert run(stack, "stage", "latest").returncode == 0
    (stack / "srv" / "data" / "later.bin").write_bytes(b"later")
    query(postgres, "INSERT INTO notes (text) VALUES ('after the snapshot')")
    # A dump PostgreSQL cannot restore (cut short): nothing may change.
    [dump] = (stack / "srv").glob(".data.restore/**/postgres.dump")
    dump.write_bytes(dump.read_bytes()[:-200])
    applied = run(stack, "apply")
    assert applied.returncode == 1
    assert "the restore of the database" in applied.stderr and "the database is as it was" in applied.stderr
    assert query(postgres, "SELECT count(*) FROM notes") == "2"
    assert (stack / "srv" / "data" / "later.bin").exists()


def test_a_table_lock_fails_the_backup_instead_of_hanging_it(stack, postgres):
    """Reproduction: pg_dump had no --lock-wait-timeout: one open transaction
    holding a table lock kept the oneshot unit "activating" forever, every
    later timer firing was a no-op and OnFailure never fired."""
    holder = subprocess.Popen(["docker", "exec", "-i", postgres, "psql", "-U", "flaskapp", "-d", "flaskapp"],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        holder.stdin.write("BEGIN; LOCK TABLE notes IN ACCESS EXCLUSIVE MODE;\n")
        holder.stdin.flush()
        deadline = time.monotonic() + 30
        while query(postgres, "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' "
                              "AND relation = 'notes'::regclass") != "1":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        failed = run(stack, "backup", timeout=90)
        assert failed.returncode == 1
        assert "a table stayed locked longer than the pg_lock_wait_timeout of 2s" in failed.stderr, failed.stderr
        assert "No good backup yet." in failed.stderr
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
