"""Sample Flask application deployed by flask-vps."""

from flask import Flask, jsonify, render_template, request
from werkzeug.middleware.proxy_fix import ProxyFix

__version__ = "1.0.0"


def create_app():
    app = Flask(__name__)
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
