"""Sample Flask application deployed by flask-vps."""

import os
import secrets
from pathlib import Path

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


def create_app():
    app = Flask(__name__)
    # Without a secret key file, a random key per process: sessions then do
    # not survive a restart nor span several workers.
    app.config["SECRET_KEY"] = read_secret("secret_key") or secrets.token_hex(32)
    # nginx is exactly one proxy hop in front of gunicorn: trust one level of
    # X-Forwarded-For/-Proto/-Host and nothing a client sends beyond that.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

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
        )

    return app
