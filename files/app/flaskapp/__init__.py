"""Sample Flask application deployed by flask-vps."""

import os
import secrets
import sqlite3
from pathlib import Path

import click
from flask import Flask, jsonify, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix

__version__ = "1.0.0"


def read_secret(name):
    """Return the secret file's content (Compose mounts them under
    /run/secrets), or None when there is no such secret."""
    path = Path(os.environ.get("SECRETS_DIR", "/run/secrets"), name)
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def create_app(data_dir=None):
    app = Flask(__name__)
    # Without a secret key file, a random key per process: sessions then do
    # not survive a restart nor span several workers.
    app.config["SECRET_KEY"] = read_secret("secret_key") or secrets.token_hex(32)
    # Persistent data (the SQLite database) lives in the directory the
    # deployment mounts at $APP_DATA_DIR; it outlives releases.
    app.config["DATA_DIR"] = data_dir or os.environ.get("APP_DATA_DIR") or app.instance_path
    app.config["RELEASE"] = os.environ.get("APP_RELEASE", "")
    # nginx is exactly one proxy hop in front of gunicorn: trust one level of
    # X-Forwarded-For/-Proto/-Host and nothing a client sends beyond that.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    def database_path():
        return os.path.join(app.config["DATA_DIR"], "app.db")

    @app.get("/")
    def index():
        return render_template("index.html", version=__version__)

    @app.get("/healthz")
    def healthz():
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

    @app.get("/api/notes")
    def notes():
        if not os.path.exists(database_path()):
            return jsonify(error="no database: run `flask --app wsgi init-db`"), 503
        with sqlite3.connect(database_path()) as db:
            count = db.execute("SELECT count(*) FROM notes").fetchone()[0]
        return jsonify(count=count)

    @app.cli.command("init-db")
    def init_db():
        """Create the database schema (safe to run again)."""
        os.makedirs(app.config["DATA_DIR"], exist_ok=True)
        with sqlite3.connect(database_path()) as db:
            db.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
        click.echo(f"database ready: {database_path()}")

    @app.cli.command("add-note")
    @click.argument("text")
    def add_note(text):
        """Store a note."""
        with sqlite3.connect(database_path()) as db:
            db.execute("INSERT INTO notes (text) VALUES (?)", (text,))
            count = db.execute("SELECT count(*) FROM notes").fetchone()[0]
        click.echo(f"notes: {count}")

    return app
