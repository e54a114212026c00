"""Sample Flask application deployed by flask-vps."""

import json
import os
import secrets
import signal
import tempfile
import threading
import time
from pathlib import Path

import click
from flask import Flask, jsonify, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .notes import Notes

__version__ = "1.0.0"


def read_secret(name):
    """Return the secret file's content (Compose mounts them under
    /run/secrets), or None when there is no such secret."""
    path = Path(os.environ.get("SECRETS_DIR", "/run/secrets"), name)
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def create_app(data_dir=None, instance_path=None):
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    # Without a secret key file, a random key per process: sessions then do
    # not survive a restart nor span several workers.
    app.config["SECRET_KEY"] = read_secret("secret_key") or secrets.token_hex(32)
    # Persistent data (the SQLite database) lives in the directory the
    # deployment mounts at $APP_DATA_DIR; it outlives releases.
    app.config["DATA_DIR"] = data_dir or os.environ.get("APP_DATA_DIR") or app.instance_path
    app.config["RELEASE"] = os.environ.get("APP_RELEASE", "")
    # Flask's instance folder: config.py there (written on the server, e.g.
    # from the deployment's vault) overrides the settings above.
    app.config.from_pyfile("config.py", silent=True)
    # nginx is exactly one proxy hop in front of gunicorn: trust one level of
    # X-Forwarded-For/-Proto/-Host and nothing a client sends beyond that.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    notes_store = Notes(read_secret("database_url"),
                        os.path.join(app.config["DATA_DIR"], "app.db"))

    @app.get("/")
    def index():
        return render_template("index.html", version=__version__)

    # Alive: the process answers. The load balancer checks this all the
    # time, so a database hiccup does not take every app host out.
    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    # Ready to serve, database included (app_readiness_path): a release with
    # a wrong database password is refused, not made live.
    @app.get("/readyz")
    def readyz():
        if not notes_store.reachable():
            return jsonify(status="database unreachable"), 503
        return jsonify(status="ok")

    @app.get("/api/client")
    def client():
        return jsonify(
            client=request.remote_addr,
            scheme=request.scheme,
            host=request.host,
            version=__version__,
            release=app.config["RELEASE"],
        )

    @app.get("/api/instance")
    def instance():
        return jsonify(path=app.instance_path, site_name=app.config.get("SITE_NAME"))

    @app.get("/api/notes")
    def notes():
        if not notes_store.ready():
            return jsonify(error="no database: run `flask --app wsgi init-db`"), 503
        return jsonify(count=notes_store.count())

    @app.post("/api/notes")
    def add_note_over_http():
        text = (request.get_json(silent=True) or {}).get("text")
        if not isinstance(text, str) or not text:
            return jsonify(error='send {"text": "..."}'), 400
        if not notes_store.ready():
            return jsonify(error="no database: run `flask --app wsgi init-db`"), 503
        return jsonify(id=notes_store.add(text)), 201

    @app.get("/api/notes/<int:note_id>")
    def note(note_id):
        text = notes_store.get(note_id) if notes_store.ready() else None
        if text is None:
            return jsonify(error="no such note"), 404
        return jsonify(id=note_id, text=text)

    @app.cli.command("init-db")
    @click.option("--schema-version", default=None,
                  help="Record this revision in alembic_version, as an Alembic migration would.")
    def init_db(schema_version):
        """Create the database schema (safe to run again)."""
        click.echo(f"database ready: {notes_store.create_schema()}")
        if schema_version:
            notes_store.set_schema_version(schema_version)
            click.echo(f"schema version: {schema_version}")

    @app.cli.command("add-note")
    @click.argument("text")
    def add_note(text):
        """Store a note."""
        notes_store.add(text)
        click.echo(f"notes: {notes_store.count()}")

    @app.cli.command("worker")
    @click.option("--interval", default=2.0, help="Seconds between heartbeats.")
    @click.option("--once", is_flag=True, help="Write one heartbeat and stop.")
    @click.option("--check", is_flag=True, help="Health check: exit 1 unless this release's heartbeat is fresh.")
    def worker(interval, once, check):
        """A sample background worker: writes a heartbeat (its release and the
        secrets it sees) into the data directory until it is stopped."""
        shared = Path(app.config["DATA_DIR"], "worker-heartbeat.json")
        # The health check reads this container's own copy: while one release
        # starts, the other's worker still writes the shared file.
        own = Path(tempfile.gettempdir(), "worker-heartbeat.json")
        if check:
            beat = json.loads(own.read_text(encoding="utf-8"))
            fresh = beat["release"] == app.config["RELEASE"] and time.time() - beat["time"] < 3 * interval
            raise SystemExit(0 if fresh else 1)
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        secrets_dir = Path(os.environ.get("SECRETS_DIR", "/run/secrets"))
        while True:
            beat = {"release": app.config["RELEASE"], "time": time.time(),
                    "secrets": sorted(p.name for p in secrets_dir.glob("*"))}
            for heartbeat in (own, shared):
                partial = heartbeat.with_suffix(".partial")
                partial.write_text(json.dumps(beat), encoding="utf-8")
                partial.replace(heartbeat)  # readers never see half a file
            if once or stopping.wait(interval):
                return

    return app
