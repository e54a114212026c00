"""The app role's filters and its source packaging, on their own."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from ansible_collections.flask_vps.stack.plugins.filter import app_release as filters
from ansible_collections.flask_vps.stack.plugins.modules import app_source


def test_release_id_follows_source_and_settings():
    first = filters.release_id("abc", {"workers": 2})
    assert first == filters.release_id("abc", {"workers": 2})
    assert len(first) == 12
    assert first != filters.release_id("abd", {"workers": 2})
    assert first != filters.release_id("abc", {"workers": 3})


@pytest.mark.parametrize(("configured", "cores", "memory", "expected"), [
    (3, 8, "512m", 3),        # configured wins
    (0, 2, "512m", 5),        # 2 x 2 + 1
    (0, 16, "512m", 8),       # memory allows 8 of 64 MB
    (0, 1, "100m", 1),        # at least one
    (0, "4", "1g", 9),
])
def test_gunicorn_workers(configured, cores, memory, expected):
    assert filters.gunicorn_workers(configured, cores, memory) == expected


def test_memory_bytes_rejects_what_docker_would():
    assert filters.memory_bytes("6m") == 6 * 1024**2
    assert filters.memory_bytes("1G") == 1024**3
    with pytest.raises(ValueError):
        filters.memory_bytes("10MB!")


def test_duration_seconds_reads_what_preflight_allows():
    assert filters.duration_seconds("3s") == 3
    assert filters.duration_seconds("1m30s") == 90
    assert filters.duration_seconds("1h") == 3600
    for bad in ("", "500ms", "5"):
        with pytest.raises(ValueError):
            filters.duration_seconds(bad)


def test_compose_escape_keeps_dollars_literal():
    assert filters.compose_escape("pa$word") == "pa$$word"
    assert filters.compose_escape(5) == "5"
    assert filters.compose_escape(["echo", "$HOME", 1]) == ["echo", "$$HOME", "1"]


def test_first_start_cuts_at_the_second_start_by_position():
    lines = ["Starting gunicorn 27", "Traceback", "Error", "Starting gunicorn 27", "Traceback"]
    assert filters.first_start(lines) == lines[:3]
    assert filters.first_start(["only line"]) == ["only line"]


def test_refusal_reasons():
    assert filters.refusal({"failed": True, "rc": 3}, None, "/healthz") == "its release command failed (exit code 3)"
    crashed = {"RestartCount": 1, "State": {"Status": "running"}}
    assert filters.refusal({"skipped": True}, crashed, "/healthz") == "its container crashed on start"
    unhealthy = {"RestartCount": 0, "State": {"Status": "running", "Health": {"Status": "unhealthy"}}}
    assert filters.refusal({}, unhealthy, "/healthz") == "its health check on /healthz did not pass (unhealthy)"
    assert filters.refusal({}, None, "/up") == "its health check on /up did not pass (missing)"
    healthy = {"RestartCount": 0, "State": {"Status": "running", "Health": {"Status": "healthy"}}}
    assert filters.refusal({}, healthy, "/healthz", "mailer") == "its worker mailer is not running or not healthy"


def test_refusal_by_a_step_before_the_release_command():
    """The snapshot and the rehearsal refuse a release before its command
    runs; any other failed task leaves the reason to the command and the
    container."""
    snapshot = filters.refusal({}, None, "/healthz", "", "Take a snapshot of the database",
                               {"stderr": "  pg_dump: error: connection refused\n", "msg": "non-zero return code"})
    assert snapshot == "the snapshot of its database before the release command failed: pg_dump: error: connection refused"
    rehearsal = filters.refusal({}, None, "/healthz", "", "Check the release command's rehearsal",
                                {"msg": "exit code 3; the live database was not touched"})
    assert rehearsal == ("its release command failed its rehearsal on a copy of the database, "
                         "exit code 3; the live database was not touched")
    throwaway = filters.refusal(None, None, "/healthz", "", "Start a throwaway PostgreSQL from the snapshot",
                                {"msg": "x" * 700})
    assert throwaway.startswith("its release command could not be rehearsed: xxx")
    assert throwaway.endswith("... (the live database was not touched)") and len(throwaway) < 700
    assert filters.refusal({"failed": True, "rc": 3}, None, "/healthz", "", "Run the release command", {"rc": 3}) \
        == "its release command failed (exit code 3)"


def test_healthcheck_test_runs_a_string_in_a_shell():
    assert filters.healthcheck_test("test -f /data/x") == ["CMD-SHELL", "test -f /data/x"]
    assert filters.healthcheck_test(["flask", "check"]) == ["CMD", "flask", "check"]


def test_failed_worker_is_the_first_failed_item():
    results = [{"item": {"name": "a"}, "failed": False}, {"item": {"name": "b"}, "failed": True},
               {"item": {"name": "c"}, "failed": True}]
    assert filters.failed_worker(results) == "b"
    assert filters.failed_worker(results[:1]) == ""
    assert filters.failed_worker(None) == ""


def test_refusal_log_shows_the_command_output_or_the_first_start():
    failed = {"failed": True, "stdout": "out", "stderr": "err1\nerr2"}
    assert filters.refusal_log(failed, ["ignored"], 2) == "err1\nerr2"
    logs = ["Starting gunicorn", "a", "b", "Starting gunicorn", "c"]
    assert filters.refusal_log({"skipped": True}, logs, 2) == "a\nb"


def test_history_and_pruning():
    history = ["t deploy a", "t deploy b", "t rollback a", "t deploy c"]
    assert filters.history_release(history, -1) == "c"
    assert filters.history_release(history, -2) == "a"
    assert filters.history_release([], -1) == ""
    assert filters.releases_to_keep(history, 2, ["d", ""]) == ["c", "a", "d"]


def test_static_fallback_is_the_releases_live_before_newest_first():
    history = ["t1 deploy a", "t2 deploy b", "t3 deploy c", "t4 rollback b"]
    # A deploy of d: b is live, then c and a were.
    assert filters.static_fallback(history, "d", 1) == ["b"]
    assert filters.static_fallback(history, "d", 5) == ["b", "c", "a"]
    # A rerun (b stays live) or a rollback to c: never the release itself.
    assert filters.static_fallback(history, "b", 2) == ["c", "a"]
    assert filters.static_fallback(history, "c", 1) == ["b"]
    assert filters.static_fallback(history, "d", 0) == []
    assert filters.static_fallback([], "a", 1) == []
    # Whatever is served as a fallback is among what prune.yml keeps.
    for count in range(4):
        assert set(filters.static_fallback(history, "d", count)) <= set(
            filters.releases_to_keep(history + ["t5 deploy d"], max(count + 1, 1), ["d", "b"]))


def test_release_labels_and_image_tags():
    containers = [{"Labels": {"flask-vps.release": "b"}}, {"Labels": {"flask-vps.release": "a"}}, {"Labels": None}]
    assert filters.release_labels(containers) == ["a", "b"]
    images = [{"RepoTags": ["flaskapp-app:a", "other:b"]}, {"RepoTags": None}, {"RepoTags": ["flaskapp-app:c"]}]
    assert filters.image_tags(images, "flaskapp-app") == ["a", "c"]


def make_tree(root, files):
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)


def test_release_files_follow_dockerignore_rules(tmp_path):
    make_tree(tmp_path, [
        "wsgi.py", "Dockerfile", "pkg/__init__.py", "pkg/__pycache__/x.pyc", ".git/config",
        ".env", "instance/app.db", "tests/test_a.py", "docs/keep.md", "docs/drop.md", "a/b/c/notes.txt",
    ])
    (tmp_path / ".dockerignore").write_text("# comment\ntests\ndocs/*.md\n!docs/keep.md\n**/notes.txt\nDockerfile\n")
    exclude = [".git", ".env", "instance", "**/__pycache__"]
    assert app_source.release_files(str(tmp_path), exclude) == [
        ".dockerignore", "Dockerfile", "docs/keep.md", "pkg/__init__.py", "wsgi.py"]


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("*.pyc", "a.pyc", True),
    ("*.pyc", "dir/a.pyc", False),
    ("**/*.pyc", "dir/sub/a.pyc", True),
    ("**/*.pyc", "a.pyc", True),
    ("file?.txt", "file1.txt", True),
    ("file?.txt", "file10.txt", False),
    ("[a-c].py", "b.py", True),
    ("/abs", "abs", True),
])
def test_patterns(pattern, path, matches):
    rules = app_source.parse_patterns([pattern])
    assert app_source.is_excluded(path, rules) is matches


def run_module(tmp_path, src):
    args = {"ANSIBLE_MODULE_ARGS": {"src": str(src), "exclude": [".git"], "archive_dir": str(tmp_path / "cache")}}
    done = subprocess.run([sys.executable, app_source.__file__],
                          input=__import__("json").dumps(args), capture_output=True, text=True, check=True)
    return __import__("json").loads(done.stdout)


def test_archive_is_reproducible_and_holds_only_release_files(tmp_path):
    src = tmp_path / "app"
    make_tree(src, ["wsgi.py", "Dockerfile", ".git/HEAD"])
    os.chmod(src / "wsgi.py", 0o755)
    first = run_module(tmp_path, src)
    archive = Path(first["archive"])
    content = archive.read_bytes()
    archive.unlink()
    os.utime(src / "wsgi.py", (1_000_000, 1_000_000))  # a new time, the same content
    second = run_module(tmp_path, src)
    assert second["digest"] == first["digest"]
    assert Path(second["archive"]).read_bytes() == content
    with tarfile.open(second["archive"]) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == ["Dockerfile", "wsgi.py"]
    assert members["wsgi.py"].mode == 0o755 and members["Dockerfile"].mode == 0o644
    assert {m.uid for m in members.values()} == {0}


def test_an_edit_that_keeps_the_size_changes_the_time_buildkit_sees(tmp_path):
    """BuildKit re-reads a context file only if its size or time changed."""
    src = tmp_path / "app"
    make_tree(src, ["Dockerfile"])
    (src / "version.py").write_text('version = "1.0.0"')
    before = run_module(tmp_path, src)
    stat = (src / "version.py").stat()
    (src / "version.py").write_text('version = "2.0.0"')
    os.utime(src / "version.py", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = run_module(tmp_path, src)
    times = []
    for result in (before, after):
        with tarfile.open(result["archive"]) as tar:
            times.append(tar.getmember("version.py").mtime)
    assert times[0] != times[1]


def test_systemd_arguments_pass_a_command_through_literally():
    assert filters.systemd_arguments("flask --app wsgi add-note 'a note'") == '"flask" "--app" "wsgi" "add-note" "a note"'
    # systemd would expand $HOME and %h, and end the word at a quote.
    assert filters.systemd_arguments(["echo", '$HOME 100% "x" \\ done']) == '"echo" "$$HOME 100%% \\"x\\" \\\\ done"'


@pytest.mark.parametrize(("asked", "message"), [
    ({"service": "app"}, None),
    ({"service": "worker:mailer", "since": "1h30m", "lines": "50"}, None),
    ({"service": "job:digest", "app": "flaskapp"}, None),
    ({"service": "web"}, ("service='web' is not a service of flaskapp: allowed are app, nginx, postgres, "
                          "worker:mailer, job:digest.")),
    ({"service": "worker:nope"}, "service='worker:nope' is not a service of flaskapp"),
    ({"since": "yesterday"}, "since='yesterday' is not a duration"),
    ({"lines": "0"}, "lines='0' is not allowed: allowed is a whole number from 1 to 100000."),
    ({"app": "shop"}, "app='shop' is not an app of this host: allowed is flaskapp."),
])
def test_logs_errors(asked, message):
    errors = filters.logs_errors({"app": "", "service": "app", "since": "1h", "lines": 200, **asked},
                                     "flaskapp", ["mailer"], ["digest"])
    assert errors == [] if message is None else message in " ".join(errors), errors


def test_logs_errors_without_postgres():
    errors = filters.logs_errors({"app": "", "service": "postgres", "since": "1h", "lines": 200},
                                     "flaskapp", [], [], postgres=False)
    assert errors == ["service='postgres' is not a service of flaskapp: allowed are app, nginx."]
