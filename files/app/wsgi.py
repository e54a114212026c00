"""WSGI entry point: gunicorn serves `wsgi:app`."""

from flaskapp import create_app

app = create_app()
