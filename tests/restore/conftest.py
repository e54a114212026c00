"""A real PostgreSQL: the stack's own image (flask-vps/postgres:17) in a
container on this machine's Docker."""

import shutil
import subprocess
import time
import uuid

import pytest

IMAGE = "flask-vps/postgres:17"
PASSWORD = "the-right-password"


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


