"""A real PostgreSQL: the stack's own image (flask-vps/postgres:17) in a
container on this machine's Docker; a stack's files and the backup script's
config around it."""

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

IMAGE = "flask-vps/postgres:17"
PASSWORD = "the-right-password"
SCRIPT = Path(__file__).resolve().parents[2] / "roles/backup/files/backup.py"


def psql(container, sql):
    return subprocess.run(["docker", "exec", "-i", container, "psql", "-U", "flaskapp", "-d", "flaskapp",
                           "-v", "ON_ERROR_STOP=1", "-tA"], input=sql, capture_output=True, text=True, check=False)


def query(container, sql):
    result = psql(container, sql)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="session")
def postgres():
    if not shutil.which("restic"):
        pytest.fail("restic is not installed: `make unit` installs it (lab/scripts/ensure-restic.sh)")
    name = f"flask-vps-restore-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "--detach", "--name", name, "--env", "POSTGRES_USER=flaskapp",
                    "--env", "POSTGRES_DB=flaskapp", "--env", f"POSTGRES_PASSWORD={PASSWORD}", IMAGE],
                   check=True, capture_output=True)
    try:
        deadline = time.monotonic() + 60
        while psql(name, "SELECT 1").returncode != 0:
            assert time.monotonic() < deadline, "PostgreSQL did not start"
            time.sleep(0.5)
        yield name
    finally:
        subprocess.run(["docker", "rm", "--force", "--volumes", name], check=False, capture_output=True)


@pytest.fixture
def stack(tmp_path, postgres):
    data = tmp_path / "srv" / "data"
    data.mkdir(parents=True)
    (data / "upload.bin").write_bytes(b"uploaded")
    (tmp_path / "password").write_text("repository password")
    (tmp_path / "machine-id").write_text("0a1b2c3d4e5f60718293a4b5c6d7e8f9\n")
    (tmp_path / "environment.json").write_text("{}")
    config = {
        "name": "demo", "host": "my-vps", "repository": str(tmp_path / "repo"),
        "password_file": str(tmp_path / "password"), "cache_dir": str(tmp_path / "cache"),
        "state_dir": str(tmp_path / "state"), "staging_dir": str(tmp_path / "state" / "staging"),
        "data_dir": str(data), "paths": [], "postgres_container": postgres,
        "keep": {"last": 7, "daily": 7, "weekly": 4, "monthly": 6},
        "environment_file": str(tmp_path / "environment.json"), "machine_id_file": str(tmp_path / "machine-id"),
        "pg_lock_wait_timeout": "2s",
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    query(postgres, "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"
                    "CREATE TABLE schema_migrations (version text);"
                    "INSERT INTO schema_migrations VALUES ('001');"
                    "CREATE TABLE notes (id serial PRIMARY KEY, text text);"
                    "INSERT INTO notes (text) VALUES ('in the snapshot');")
    return tmp_path


def run(stack, *args, timeout=120):
    env = {**os.environ, "FLASK_VPS_BACKUP_CONFIG": str(stack / "config.json")}
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          check=False, timeout=timeout)
