"""Unit tests of the sample app, run with the Flask test client."""

import json
import tempfile

import pytest

import flaskapp
from wsgi import app as wsgi_app


@pytest.fixture()
def client():
    return flaskapp.create_app().test_client()


def test_index_links_stylesheet_and_image(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "/static/style.css" in page
    assert "/static/logo.png" in page
    assert flaskapp.__version__ in page


def test_static_files_are_served(client):
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_without_a_database_url_is_ready(client):
    """SQLite in the data directory: nothing to reach. With PostgreSQL:
    tests/restore/test_app_health.py."""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_client_address_trusts_exactly_one_proxy_hop(client):
    response = client.get(
        "/api/client",
        headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.7", "X-Forwarded-Proto": "https"},
        environ_base={"REMOTE_ADDR": "172.18.0.3"},
    )
    body = response.get_json()
    # Only the last hop, the one nginx appended, is believed.
    assert body["client"] == "198.51.100.7"
    assert body["scheme"] == "https"
    assert body["version"] == flaskapp.__version__


def test_client_address_without_proxy_is_the_peer(client):
    response = client.get("/api/client", environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert response.get_json()["client"] == "192.0.2.1"


def test_unknown_path_is_404(client):
    assert client.get("/no-such-page").status_code == 404


def test_wsgi_module_exposes_the_app():
    assert wsgi_app.test_client().get("/healthz").status_code == 200


def test_secret_key_comes_from_the_secret_file(tmp_path, monkeypatch):
    (tmp_path / "secret_key").write_text("from-the-vault\n", encoding="utf-8")
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    assert flaskapp.create_app().secret_key == "from-the-vault"


def test_secret_key_without_secret_file_is_random(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    first, second = flaskapp.create_app().secret_key, flaskapp.create_app().secret_key
    assert len(first) == 64
    assert first != second


def test_notes_need_the_database(tmp_path):
    client = flaskapp.create_app(data_dir=str(tmp_path)).test_client()
    assert client.get("/api/notes").status_code == 503


def test_cli_creates_the_schema_and_counts_notes(tmp_path):
    app = flaskapp.create_app(data_dir=str(tmp_path))
    runner = app.test_cli_runner()
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert runner.invoke(args=["init-db"]).exit_code == 0  # idempotent
    result = runner.invoke(args=["add-note", "hello"])
    assert result.exit_code == 0
    assert "notes: 1" in result.output
    assert (tmp_path / "app.db").is_file()
    assert app.test_client().get("/api/notes").get_json() == {"count": 1}


def test_init_db_records_a_schema_version_as_alembic_would(tmp_path):
    app = flaskapp.create_app(data_dir=str(tmp_path))
    runner = app.test_cli_runner()
    store = flaskapp.Notes(None, str(tmp_path / "app.db"))
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert store.schema_version() is None
    for version in ("0001", "0002"):
        result = runner.invoke(args=["init-db", "--schema-version", version])
        assert result.exit_code == 0 and f"schema version: {version}" in result.output
        assert store.schema_version() == version


def test_notes_are_written_and_read_over_http(tmp_path):
    app = flaskapp.create_app(data_dir=str(tmp_path))
    assert app.test_cli_runner().invoke(args=["init-db"]).exit_code == 0
    client = app.test_client()
    response = client.post("/api/notes", json={"text": "über alles"})
    assert response.status_code == 201
    note_id = response.get_json()["id"]
    assert client.get(f"/api/notes/{note_id}").get_json() == {"id": note_id, "text": "über alles"}
    assert client.get(f"/api/notes/{note_id + 1}").status_code == 404
    assert client.post("/api/notes", json={"text": ""}).status_code == 400
    assert client.get("/api/notes").get_json() == {"count": 1}


def run_worker(monkeypatch, tmp_path, release, option):
    """`flask worker <option>` of one release's app, in a container of its
    own (its own /tmp), sharing the data directory; returns the exit code."""
    container_tmp = tmp_path / f"tmp-{release}"
    container_tmp.mkdir(exist_ok=True)
    monkeypatch.setattr(tempfile, "tempdir", str(container_tmp))
    monkeypatch.setenv("APP_RELEASE", release)
    app = flaskapp.create_app(data_dir=str(tmp_path))
    return app.test_cli_runner().invoke(args=["worker", option]).exit_code


def test_worker_writes_a_heartbeat_with_its_release_and_secrets(tmp_path, monkeypatch):
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "secret_key").write_text("x", encoding="utf-8")
    monkeypatch.setenv("SECRETS_DIR", str(secrets_dir))
    assert run_worker(monkeypatch, tmp_path, "abc123", "--once") == 0
    beat = json.loads((tmp_path / "worker-heartbeat.json").read_text(encoding="utf-8"))
    assert beat["release"] == "abc123"
    assert beat["secrets"] == ["secret_key"]
    assert run_worker(monkeypatch, tmp_path, "abc123", "--check") == 0


def test_a_workers_health_is_its_own_heartbeat_while_another_release_writes_too(tmp_path, monkeypatch):
    assert run_worker(monkeypatch, tmp_path, "new", "--once") == 0
    assert run_worker(monkeypatch, tmp_path, "old", "--once") == 0
    assert json.loads((tmp_path / "worker-heartbeat.json").read_text(encoding="utf-8"))["release"] == "old"
    assert run_worker(monkeypatch, tmp_path, "new", "--check") == 0
    assert run_worker(monkeypatch, tmp_path, "old", "--check") == 0
    # A worker that never wrote is not healthy, whatever the shared file says.
    assert run_worker(monkeypatch, tmp_path, "other", "--check") != 0


def test_instance_config_overrides_the_defaults(tmp_path):
    (tmp_path / "config.py").write_text('SITE_NAME = "Shop"\n', encoding="utf-8")
    client = flaskapp.create_app(instance_path=str(tmp_path)).test_client()
    assert client.get("/api/instance").get_json() == {"path": str(tmp_path), "site_name": "Shop"}


def test_no_instance_config_is_fine(tmp_path):
    client = flaskapp.create_app(instance_path=str(tmp_path)).test_client()
    assert client.get("/api/instance").get_json()["site_name"] is None
