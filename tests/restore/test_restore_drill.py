"""The restore drill (`<name>-backup drill`) against a real PostgreSQL: the
latest snapshot restored into a temporary directory and a temporary
container of the live one's image, checked, and both removed, whether the
drill passes or fails."""

import hashlib
import json
import os
import sqlite3
import subprocess

import pytest

from conftest import query, run


@pytest.fixture
def drilled(stack):
    """The stack with an SQLite database in its data directory and bounds for
    the drill; checks after the test that the drill left nothing behind."""
    config = json.loads((stack / "config.json").read_text())
    config["drill"] = {"time_limit": "5m", "memory": "256m", "cpus": 1}
    (stack / "config.json").write_text(json.dumps(config))
    with sqlite3.connect(stack / "srv" / "data" / "app.db") as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
        db.execute("INSERT INTO orders (item) VALUES ('in the snapshot')")
    db.close()
    yield stack
    assert [p.name for p in (stack / "srv").iterdir()] == ["data"]
    containers = subprocess.run(["docker", "ps", "--all", "--quiet", "--filter",
                                 f"label=flask-vps.backup-drill={config['state_dir']}"],
                                capture_output=True, text=True, check=True).stdout
    assert containers == ""


def drill_state(stack):
    return json.loads((stack / "state" / "last-drill.json").read_text())


def test_a_drill_restores_the_latest_snapshot_and_checks_it(drilled, postgres):
    assert run(drilled, "backup").returncode == 0
    # Written after the backup: the drill never touches the live database.
    query(postgres, "INSERT INTO notes (text) VALUES ('after the snapshot')")
    drill = run(drilled, "drill")
    assert drill.returncode == 0, drill.stderr
    assert "Restore drill of demo passed" in drill.stdout
    assert "1 SQLite database checked, the PostgreSQL dump restored: 2 tables, 2 rows as recorded" in drill.stdout
    state = drill_state(drilled)
    assert state["ok"] and state["failures"] == []
    assert state["last_ok"]["snapshot"] == state["snapshot"]
    # The backup's record has the id restic printed (short with restic 0.14).
    assert state["snapshot"].startswith(json.loads(run(drilled, "status").stdout)["snapshot"])
    status = json.loads(run(drilled, "status").stdout)["drill"]
    assert status["message"].startswith("Last verified restore: ")
    assert f" ago (snapshot {state['snapshot'][:8]} of {state['snapshot_time']})." in status["message"]
    assert query(postgres, "SELECT count(*) FROM notes") == "2"


def pack_of(stack, blob):
    """The repository's pack file that holds this blob (from restic's index)."""
    for index in run(stack, "restic", "list", "index").stdout.split():
        for pack in json.loads(run(stack, "restic", "cat", "index", index).stdout)["packs"]:
            for found in pack["blobs"]:
                if found["id"] == blob:
                    return stack / "repo" / "data" / pack["id"][:2] / pack["id"], found
    raise AssertionError(f"no pack holds {blob}")


def test_a_corrupted_pack_fails_the_drill_and_says_what_failed(drilled, postgres):
    # A file of one chunk: its blob's id is its content's sha256.
    upload = os.urandom(100_000)
    (drilled / "srv" / "data" / "upload.bin").write_bytes(upload)
    assert run(drilled, "backup").returncode == 0
    path, blob = pack_of(drilled, hashlib.sha256(upload).hexdigest())
    os.chmod(path, 0o644)
    with open(path, "r+b") as pack:
        pack.seek(blob["offset"] + blob["length"] // 2)
        pack.write(b"corrupted")
    drill = run(drilled, "drill")
    assert drill.returncode == 1
    snapshot = json.loads(run(drilled, "status").stdout)["snapshot"]
    assert f"drill of demo FAILED: the restore drill of snapshot {snapshot[:8]} failed: restic restore failed" \
        in drill.stderr, drill.stderr
    assert "upload.bin" in drill.stderr
    state = drill_state(drilled)
    assert not state["ok"] and state["snapshot"].startswith(snapshot) and state["last_ok"] is None
    message = json.loads(run(drilled, "status").stdout)["drill"]["message"]
    assert message.startswith("Last verified restore: never; the last drill, ")
    assert "FAILED: restic restore failed" in message
