"""Notes, in PostgreSQL when the deployment gives a database URL
(/run/secrets/database_url), otherwise in SQLite in the data directory."""

import logging
import os
import sqlite3
from contextlib import closing
from urllib.parse import unquote, urlsplit

SCHEMA = {
    "sqlite": "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)",
    "postgresql": "CREATE TABLE IF NOT EXISTS notes "
                  "(id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, text TEXT NOT NULL)",
}


# Seconds the health check's query may wait on the network: it must answer
# within the deployment's health check timeout.
HEALTH_CHECK_TIMEOUT = 3


class Notes:
    def __init__(self, database_url, sqlite_path):
        self.database_url = database_url
        self.sqlite_path = sqlite_path
        self.kind = "postgresql" if database_url else "sqlite"

    def _run(self, sql, timeout=None, **params):
        """Run one statement in its own transaction; return its rows."""
        if self.kind == "postgresql":
            import pg8000.native  # only needed with PostgreSQL

            url = urlsplit(self.database_url)
            with closing(pg8000.native.Connection(
                    user=unquote(url.username), password=unquote(url.password or ""),
                    host=url.hostname, port=url.port or 5432, database=url.path.lstrip("/"),
                    timeout=timeout)) as db:
                return db.run(sql, **params)
        with closing(sqlite3.connect(self.sqlite_path)) as db, db:
            return db.execute(sql, params).fetchall()

    def create_schema(self):
        if self.kind == "sqlite":
            os.makedirs(os.path.dirname(self.sqlite_path), exist_ok=True)
        self._run(SCHEMA[self.kind])
        return self.kind if self.kind == "postgresql" else self.sqlite_path

    def set_schema_version(self, version):
        """Alembic's table of the schema's revision, with this one."""
        self._run("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        self._run("DELETE FROM alembic_version")
        self._run("INSERT INTO alembic_version (version_num) VALUES (:version)", version=version)

    def schema_version(self):
        """The revision in alembic_version, or None without the table."""
        if self.kind == "sqlite":
            found = self._run("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")
        else:
            found = self._run("SELECT to_regclass('alembic_version') IS NOT NULL")[0][0]
        rows = self._run("SELECT version_num FROM alembic_version") if found else []
        return rows[0][0] if rows else None

    def ready(self):
        """Whether the schema exists (init-db has run)."""
        if self.kind == "sqlite":
            return os.path.exists(self.sqlite_path)
        return bool(self._run("SELECT to_regclass('notes') IS NOT NULL")[0][0])

    def reachable(self):
        """Whether the database answers (SQLite: always)."""
        if self.kind == "sqlite":
            return True
        from pg8000.exceptions import Error as DatabaseError

        try:
            return self._run("SELECT 1", timeout=HEALTH_CHECK_TIMEOUT) == [[1]]
        except (OSError, DatabaseError) as error:  # cannot connect, log in or query
            logging.getLogger(__name__).warning("database unreachable: %s", error)
            return False

    def add(self, text):
        return self._run("INSERT INTO notes (text) VALUES (:text) RETURNING id", text=text)[0][0]

    def get(self, note_id):
        rows = self._run("SELECT text FROM notes WHERE id = :id", id=note_id)
        return rows[0][0] if rows else None

    def count(self):
        return self._run("SELECT count(*) FROM notes")[0][0]
