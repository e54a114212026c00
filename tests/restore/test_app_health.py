"""The sample app's readiness (/readyz, app_readiness_path) against a real
PostgreSQL: a release whose database password is wrong (an older release
after postgres_password changed) answers 503, so the deploy's health gate
refuses it instead of making it live with every database request failing.
Its liveness (/healthz, the load balancer's check) does not depend on the
database."""

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import PASSWORD

APP = Path(__file__).resolve().parents[2] / "files" / "app"


@pytest.fixture(scope="module")
def address(postgres):
    info = json.loads(subprocess.run(["docker", "inspect", postgres], check=True, capture_output=True,
                                     text=True).stdout)
    return next(iter(info[0]["NetworkSettings"]["Networks"].values()))["IPAddress"]


def get(tmp_path, database_url, path="/readyz"):
    """The app's answer on path with this connection string as its secret: (status, body)."""
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    (secrets / "database_url").write_text(database_url)
    client = (f"import flaskapp, json; r = flaskapp.create_app().test_client().get({path!r});"
              "print(json.dumps([r.status_code, r.get_json()]))")
    result = subprocess.run([sys.executable, "-c", client], cwd=APP, capture_output=True, text=True, check=True,
                            env={"SECRETS_DIR": str(secrets), "APP_DATA_DIR": str(tmp_path), "PATH": "/usr/bin"})
    return tuple(json.loads(result.stdout))


def test_ready_with_the_right_password(tmp_path, address):
    assert get(tmp_path, f"postgresql://flaskapp:{quote(PASSWORD)}@{address}:5432/flaskapp") == \
        (200, {"status": "ok"})


def test_not_ready_with_a_password_the_database_no_longer_takes(tmp_path, address):
    assert get(tmp_path, f"postgresql://flaskapp:the-old-password@{address}:5432/flaskapp") == \
        (503, {"status": "database unreachable"})


def test_not_ready_when_the_database_does_not_answer(tmp_path, address):
    url = f"postgresql://flaskapp:{quote(PASSWORD)}@{address}:1/flaskapp"
    assert get(tmp_path, url) == (503, {"status": "database unreachable"})
    # Still alive: the load balancer keeps sending it what needs no database.
    assert get(tmp_path, url, "/healthz") == (200, {"status": "ok"})
