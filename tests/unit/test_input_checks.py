"""Preflight's checks of inventory values, on their own (tests/preflight runs them on a VPS)."""

from pathlib import Path

import pytest
import yaml
from ansible_collections.flask_vps.stack.plugins.filter import input_checks as checks

from conftest import preflight_settings

ROOT = Path(__file__).resolve().parents[2]

ROLE_VARIABLES = {
    name
    for defaults in ROOT.glob("roles/*/defaults/main.yml")
    for name in (yaml.safe_load(defaults.read_text()) or {})
}
# Backups on, with the settings they need.
BACKUP = {"backup_enabled": True, "backup_repository": "/var/backups/flaskapp", "backup_password": "secret"}


def test_every_checked_variable_is_a_role_variable():
    named = (checks.PORTS + checks.MEMORY_LIMITS + checks.SERVER_NAMES + checks.DURATIONS
             + checks.NGINX_SIZES + checks.NGINX_TIMES + checks.POSTGRES_IDENTIFIERS
             + checks.BACKUP_RETENTION + checks.BACKUP_SETTINGS
             + checks.REGISTRY_SETTINGS)
    assert set(named) <= ROLE_VARIABLES, set(named) - ROLE_VARIABLES


def all_errors(settings):
    """Every check preflight runs on the settings: each role's and those across roles."""
    return (checks.app_setting_errors(settings) + checks.postgres_setting_errors(settings)
            + checks.backup_setting_errors(settings) + checks.alerts_setting_errors(settings)
            + checks.cross_role_errors(settings))


def test_the_defaults_pass(role_defaults):
    assert all_errors(role_defaults) == []


@pytest.mark.parametrize(("change", "words"), [
    ({"app_http_port": 70000}, "app_http_port=70000 is not a TCP port"),
    ({"app_gunicorn_port": 80}, "app_gunicorn_port and app_http_port are both 80"),
    ({"sshd_port": 2222, "firewall_ssh_port": 2222}, None),
    ({"firewall_ssh_port": 2222}, "differs from sshd_port=22"),
    ({"app_http_port": 8080}, "not in firewall_allowed_tcp_ports"),
    ({"app_http_port": 8080, "firewall_enabled": False}, None),
    ({"app_memory_limit": "5m"}, "below Docker's smallest"),
    ({"app_memory_limit": "6m"}, None),
    ({"app_memory_limit": "512 MB"}, 'app_memory_limit="512 MB" is not a memory size'),
    ({"app_server_name": "example..com"}, "is not a host name"),
    ({"app_server_name": "example.com *.example.org"}, None),
    ({"app_name": "Flask"}, 'app_name="Flask"'),
    ({"app_healthcheck_start_period": "0s"}, None),
    ({"app_readiness_path": "/readyz"}, None),
    ({"app_readiness_path": "readyz"}, 'app_readiness_path="readyz" is not a URL path'),
    ({"app_healthcheck_interval": "0s"}, "not a health-check duration"),
    ({"app_healthcheck_interval": "1m30s"}, None),
    ({"app_static_dir": "../other"}, "publish the whole app source"),
    ({"app_static_expires": "max"}, None),
    ({"app_nginx_rate_limit": "300r/m"}, None),
    ({"app_environment": {"APP_DATA_DIR": "/x"}}, "APP_DATA_DIR"),
    ({"app_secrets": {"a..b": "x"}}, 'app_secrets name "a..b"'),
    ({"app_secrets": {"db.password": "x"}}, None),
    ({"app_gid": -1}, "app_gid=-1 is not allowed"),
    ({"app_data_dir": "/var/lib/flaskapp"}, None),
    ({"app_data_dir": "/srv/other/releases/x", "app_root": "/srv/other"}, "inside /srv/other/releases"),
    ({"app_data_dir": "/srv"}, "system directory"),
    ({"app_data_mount": "/var/data"}, None),
    ({"app_data_mount": "/run/gunicorn"}, 'app_data_mount="/run/gunicorn" is not allowed'),
    ({"app_instance_path": "/app/instance"}, None),
    ({"app_instance_path": "/srv/app/instance"}, None),
    ({"app_instance_path": "instance"}, 'app_instance_path="instance" is not allowed'),
    ({"app_instance_path": "/app"}, 'app_instance_path="/app" is not allowed'),
    ({"app_instance_path": "/data/instance"}, "apart from app_data_mount (/data)"),
    ({"app_instance_path": "/var", "app_data_mount": "/var/data"}, "apart from app_data_mount (/var/data)"),
    ({"app_instance_files": {"config.py": "SECRET_KEY = 'x'", ".env": ""}}, None),
    ({"app_instance_files": {"conf/app.py": "x"}}, 'app_instance_files name "conf/app.py" is not allowed'),
    ({"app_instance_files": {"..": "x"}}, 'app_instance_files name ".." is not allowed'),
    ({"app_instance_files": {"config.py": {"a": 1}}}, "app_instance_files config.py is a dict"),
    ({"postgres_database": "shop_2"}, None),
    ({"postgres_database": "Shop"}, 'postgres_database="Shop" is not allowed'),
    ({"postgres_user": "pg_admin"}, 'postgres_user="pg_admin" is not allowed'),
    ({"postgres_user": "a" * 64}, "at most 63 characters"),
    ({"postgres_memory_limit": "1g"}, None),
    ({"app_postgres": True, "app_secrets": {"database_url": "x"}}, "app_postgres=true writes itself"),
    ({"app_workers": [{"name": "mailer", "command": "flask mail"}]}, None),
    ({"app_workers": [{"name": "Mail Queue", "command": "x"}]}, 'app_workers name "Mail Queue"'),
    ({"app_workers": [{"name": "a", "command": "x"}, {"name": "a", "command": "y"}]}, 'app_workers name "a"'),
    ({**BACKUP, "backup_repository": "/var/backups/flaskapp"}, None),
    ({**BACKUP, "backup_repository": "s3:https://s3.example.com/bucket/app"}, None),
    ({**BACKUP, "backup_repository": "sftp:backup@host:/srv/restic", "backup_sftp_known_hosts": ["host ssh-ed25519 A"]},
     None),
    ({**BACKUP, "backup_repository": "sftp://backup@host:2222//srv/restic", "backup_sftp_accept_new_host_key": True},
     None),
    ({**BACKUP, "backup_repository": "sftp:backup@host:/srv/restic"}, "whose host key is not known"),
    ({**BACKUP, "backup_repository": "ftp://host/app"}, 'backup_repository="ftp://host/app" is not a restic repository'),
    ({**BACKUP, "backup_repository": "backups/app"}, "is not a restic repository"),
    ({**BACKUP, "backup_repository": "rclone:remote:app"}, "is not a restic repository"),
    ({**BACKUP, "backup_repository": "http://user:pw@host/app"}, 'backup_repository="http://user:***@host/app" is not'),
    ({**BACKUP, "backup_repository": ""}, "backup_enabled=true needs backup_repository"),
    ({**BACKUP, "backup_repository": "/srv/flaskapp/data/backups"}, "is inside app_data_dir"),
    ({**BACKUP, "backup_password": ""}, "backup_enabled=true needs backup_password"),
    ({"backup_repository": "ftp://host/app"}, None),  # backups off: not used
    ({"backup_keep_daily": 0}, "backup_keep_daily=0 is not allowed: allowed is a positive whole number"),
    ({"backup_keep_monthly": -1}, "backup_keep_monthly=-1 is not allowed"),
    ({"backup_keep_weekly": "four"}, 'backup_keep_weekly="four" is not allowed'),
    ({"backup_keep_weekly": "4"}, None),
    ({"app_registry": "registry.example.com:5000/team/flaskapp"}, None),
    ({"app_registry": "you/flaskapp"}, None),
    ({"app_registry": "registry:5000/flaskapp", "app_registry_username": "ci", "app_registry_password": "s"}, None),
    ({"app_registry": "registry.example.com/Team/App"}, "is not a registry repository"),
    ({"app_registry": "registry.example.com/flaskapp:1.0"}, "is not a registry repository"),
    ({"app_registry": "https://registry.example.com/flaskapp"}, "is not a registry repository"),
    ({"app_registry": "r/a", "app_registry_username": "ci"}, "app_registry_username and app_registry_password go"),
    ({"app_maintenance_allowed_addresses": ["203.0.113.7", "10.0.0.0/8", "2001:db8::/32"]}, None),
    ({"app_maintenance_allowed_addresses": ["office"]}, 'app_maintenance_allowed_addresses: "office" is not an address'),
    ({"app_maintenance_retry_after": 0}, "app_maintenance_retry_after=0 is not allowed"),
    ({"app_error_pages_dir": "pages/errors"}, None),
    ({"app_error_pages_dir": ""}, None),
    ({"app_error_pages_dir": "../errors"}, 'app_error_pages_dir="../errors" is not allowed'),
    ({"app_error_pages_dir": "/srv/errors"}, 'app_error_pages_dir="/srv/errors" is not allowed'),
    ({"app_static_fallback_releases": 0}, None),
    ({"app_static_fallback_releases": 4}, None),
    ({"app_static_fallback_releases": 5}, "allowed are 0 to 4"),
    ({"app_static_fallback_releases": 1, "app_keep_releases": 1}, None),
    ({"app_static_fallback_releases": -1}, "app_static_fallback_releases=-1 is not allowed"),
    ({"app_release_maintenance": True}, None),
    ({"app_release_command_rehearsal": True, "app_release_command": "flask db upgrade", "app_postgres": True}, None),
    ({"app_release_command_rehearsal": True, "app_postgres": True},
     "app_release_command_rehearsal=true is not allowed without app_release_command"),
    ({"app_release_command_rehearsal": True, "app_release_command": ["flask", "db", "upgrade"]},
     "app_release_command_rehearsal=true is not allowed without app_postgres"),
    ({"app_release_command_rehearsal": True, "app_release_command": "x", "app_postgres": True,
      "app_fleet_hosts": ["web1", "web2"]}, "app_release_command_rehearsal=true is not allowed in the multi-host"),
    ({"app_release_maintenance": True, "app_fleet_hosts": ["web1", "web2"]}, "not allowed in the multi-host layout"),
    ({"backup_drill_time_limit": "45m"}, None),
    ({"backup_drill_time_limit": "1 hour"}, 'backup_drill_time_limit="1 hour" is not a duration'),
    ({"backup_drill_memory_limit": "32m"}, "backup_drill_memory_limit=32m is too little"),
    ({"backup_drill_memory_limit": "1 GB"}, 'backup_drill_memory_limit="1 GB" is not a memory size'),
    ({"backup_drill_cpus": 0.5}, None),
    ({"backup_drill_cpus": 0}, "backup_drill_cpus=0 is not allowed"),
    ({"alerts_drill_max_age_days": 0}, "alerts_drill_max_age_days=0 is out of range"),
    ({"alerts_drill_max_age_days": 14}, None),
])
def test_each_value(role_defaults, change, words):
    errors = all_errors({**role_defaults, **change})
    if words is None:
        assert errors == []
    else:
        assert len(errors) >= 1 and any(words in e for e in errors), errors


def test_defaults_derived_from_a_set_value_come_resolved(tmp_path):
    """The checks read app_root as the app role resolves it (from app_name
    here), not a default of their own."""
    settings = preflight_settings(tmp_path, "-e", "app_name=shop", "-e", "app_data_dir=/srv/shop")["settings"]
    assert all_errors(settings) == [('app_data_dir="/srv/shop" is not allowed: it is app_root (/srv/shop), which '
                                     "holds the releases; allowed is an absolute directory of its own "
                                     "(/srv/shop/data, /var/lib/flaskapp).")]


WSGI_ALLOWED = "allowed are module:attr (wsgi:app) and an app factory module:factory() (flaskapp:create_app())."
SOURCE_HOLDS = "app_src must hold the WSGI module named by app_wsgi_target, requirements.txt and a Dockerfile."
NOT_A_DIRECTORY = ("is not a directory on the controller: allowed is the directory of your Flask app, holding the "
                   "WSGI module, requirements.txt and a Dockerfile.")


@pytest.fixture
def app_dir(tmp_path):
    """An app source with what a release builds from: the WSGI module (and a
    package), requirements.txt, a Dockerfile, the static folder."""
    app = tmp_path / "app"
    (app / "flaskapp" / "static").mkdir(parents=True)
    for name in ("wsgi.py", "flaskapp/__init__.py", "flaskapp/web.py", "requirements.txt", "Dockerfile"):
        (app / name).write_text("", encoding="utf-8")
    return app


def app_errors(role_defaults, app_src, **change):
    return checks.app_setting_errors({**role_defaults, "app_src": str(app_src), **change})


@pytest.mark.parametrize("target", ["wsgi:app", "flaskapp:create_app()", "flaskapp.web:app", "wsgi:create_app()"])
def test_an_app_source_with_its_wsgi_module_passes(role_defaults, app_dir, target):
    assert app_errors(role_defaults, app_dir, app_wsgi_target=target) == []


@pytest.mark.parametrize("target", ["wsgi.app", "wsgi:create_app(debug=True)", "wsgi:", ":app", "1st:app",
                                    "flask-app:app", "wsgi:app:x", "wsgi:app()()"])
def test_a_wsgi_target_gunicorn_cannot_load(role_defaults, app_dir, target):
    """Only the message about the target: the module it names is not looked for."""
    assert app_errors(role_defaults, app_dir, app_wsgi_target=target) == [
        f'app_wsgi_target="{target}" is not a WSGI target: {WSGI_ALLOWED}']


def test_app_src_that_is_not_a_directory(role_defaults, app_dir):
    for path in (app_dir.parent / "missing", app_dir / "wsgi.py"):
        assert app_errors(role_defaults, path) == [f'app_src="{path}" {NOT_A_DIRECTORY}']


@pytest.mark.parametrize(("removed", "target", "lacks"), [
    ("requirements.txt", "wsgi:app", "requirements.txt (requirements.txt)"),
    ("Dockerfile", "wsgi:app", "a Dockerfile (Dockerfile)"),
    ("wsgi.py", "wsgi:app", "the WSGI module wsgi named by app_wsgi_target=wsgi:app (wsgi.py or wsgi/__init__.py)"),
    ("flaskapp/__init__.py", "flaskapp:create_app()",
     "the WSGI module flaskapp named by app_wsgi_target=flaskapp:create_app() (flaskapp.py or flaskapp/__init__.py)"),
    ("flaskapp/web.py", "flaskapp.web:app", ("the WSGI module flaskapp.web named by app_wsgi_target=flaskapp.web:app "
                                             "(flaskapp/web.py or flaskapp/web/__init__.py)")),
])
def test_app_src_without_a_file_a_release_needs(role_defaults, app_dir, removed, target, lacks):
    (app_dir / removed).unlink()
    assert app_errors(role_defaults, app_dir, app_wsgi_target=target) == [
        f'app_src="{app_dir}" lacks {lacks}: {SOURCE_HOLDS}']


def test_app_src_files_are_checked_whatever_the_wsgi_target(role_defaults, app_dir):
    (app_dir / "Dockerfile").unlink()
    (app_dir / "wsgi.py").unlink()
    assert app_errors(role_defaults, app_dir, app_wsgi_target="wsgi") == [
        f'app_wsgi_target="wsgi" is not a WSGI target: {WSGI_ALLOWED}',
        f'app_src="{app_dir}" lacks a Dockerfile (Dockerfile): {SOURCE_HOLDS}']


def test_a_relative_app_src_is_relative_to_the_working_directory(role_defaults, app_dir, monkeypatch):
    """As for the app role: the directory ansible-playbook runs in."""
    monkeypatch.chdir(app_dir.parent)
    assert app_errors(role_defaults, "app") == []
    monkeypatch.chdir(app_dir)
    assert app_errors(role_defaults, "app") == [f'app_src="app" {NOT_A_DIRECTORY}']


KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA a@laptop"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB b@laptop"


@pytest.mark.parametrize(("change", "login_key", "bootstrap", "words"), [
    ({}, KEY_A, "root", None),
    ({"deploy_user_name": "root"}, "", "", 'deploy_user_name="root" is not allowed'),
    ({"deploy_user_name": "Deploy User"}, "", "", "is not a user name"),
    ({"sshd_allow_users": ["alice"]}, "", "root", "leaves out deploy, root"),
    ({"sshd_allow_users": ["deploy", "root"]}, "", "root", None),
    ({"deploy_user_authorized_keys": [KEY_B]}, KEY_A, "", "does not hold the public key"),
    ({"deploy_user_authorized_keys": [f'from="10.0.0.1" {KEY_A}']}, KEY_A.replace("a@laptop", "other"), "", None),
])
def test_ssh_access(role_defaults, change, login_key, bootstrap, words):
    settings = {**role_defaults, "deploy_user_authorized_keys": [KEY_A, KEY_B], **change}
    errors = checks.ssh_access_errors(settings, login_key, bootstrap)
    if words is None:
        assert errors == []
    else:
        assert len(errors) == 1 and words in errors[0], errors


def test_a_value_of_the_wrong_type_is_left_to_the_types_check(role_defaults):
    """A role's checks run before preflight's check of the types: a list where
    a mapping belongs says so instead of failing the role's validate task."""
    errors = checks.app_setting_errors({**role_defaults, "app_nginx_security_headers": ["X-Frame-Options"]})
    assert errors == [("The app role's values could not be checked ('list' object has no attribute 'items'): "
                      "see the check of the types.")]


JOB = {"name": "digest", "command": "flask --app wsgi send-digest", "on_calendar": "daily"}


def test_jobs_with_a_name_a_command_and_a_calendar_pass(role_defaults, app_dir):
    jobs = [JOB, {"name": "clean_up-2", "command": ["flask", "clean"], "on_calendar": "*:0/5", "time_limit": "1h30m"}]
    assert app_errors(role_defaults, app_dir, app_jobs=jobs) == []


@pytest.mark.parametrize(("job", "message"), [
    ({**JOB, "name": "Send digest"}, 'app_jobs[0].name="Send digest" is not a job name'),
    ({**JOB, "name": ""}, 'app_jobs[0].name="" is not a job name'),
    ({**JOB, "command": ""}, 'app_jobs[0].command="" is not a command'),
    ({**JOB, "on_calendar": " "}, "app_jobs[0].on_calendar is missing"),
    ({**JOB, "time_limit": "0s"}, 'app_jobs[0].time_limit="0s" is not a duration'),
    ({**JOB, "time_limit": "1 hour"}, 'app_jobs[0].time_limit="1 hour" is not a duration'),
    ({**JOB, "schedule": "daily"}, "app_jobs[0] has unknown keys schedule"),
    ("flask send-digest", 'app_jobs[0]="flask send-digest" is not a mapping'),
])
def test_a_job_that_cannot_run_is_refused_naming_it(role_defaults, app_dir, job, message):
    errors = app_errors(role_defaults, app_dir, app_jobs=[job])
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_two_jobs_of_one_name_are_refused(role_defaults, app_dir):
    assert app_errors(role_defaults, app_dir, app_jobs=[JOB, JOB]) == [
        "app_jobs[1].name=digest names two jobs: allowed is one job per name."]


def test_a_job_without_a_time_limit_gets_app_job_time_limit_checked(role_defaults, app_dir):
    errors = app_errors(role_defaults, app_dir, app_jobs=[JOB], app_job_time_limit="forever")
    assert errors and errors[0].startswith('app_jobs[0].time_limit="forever" is not a duration')


def test_a_calendar_systemd_refuses_is_reported_with_its_reason():
    """The results of validate.yml's `systemd-analyze calendar` loop."""
    jobs = [JOB, {**JOB, "name": "often", "on_calendar": "every minute"}, "not a job"]
    results = [{"rc": 0}, {"rc": 1, "stderr": "Failed to parse calendar specification 'every minute': Invalid argument"},
               {"skipped": True}]
    assert checks.job_calendar_errors(results, jobs) == [
        ('app_jobs[1].on_calendar="every minute" (job often) is not a calendar systemd accepts: Failed to parse '
        "calendar specification 'every minute': Invalid argument: allowed is a systemd calendar expression such as "
        "daily, hourly or '*-*-* 03:00:00' (man systemd.time).")]
