"""Checks of the inventory values, in words, run before anything on the VPS
changes.

Each role's own checks (`app_setting_errors`, `postgres_setting_errors`,
`backup_setting_errors`) run in that role's validate entry point on the
settings it hands preflight (roles/<role>/tasks/validate.yml: the role's
inputs with the values the role will see). Preflight runs the checks of
values that are wrong only together (`cross_role_errors`,
`ssh_access_errors`). Each returns one message per problem, naming the
variable, its value and what is allowed. The settings hold every documented
input, its default resolved (plugins/lookup/role_settings.py): the checks
read them by name and restate no role's default.

Each check names the variables it reads: renaming a variable in a role must
rename it here (tests/unit/test_input_checks.py checks that every name below
is a variable of some role).

Docker's values (memory sizes, health-check durations, registry repositories)
are read with the grammar the roles' filters use too,
plugins/module_utils/docker_values.py: what passes here, the roles read alike.
"""

import ipaddress
import json
import os
import posixpath
import re

from ansible_collections.flask_vps.stack.plugins.module_utils.docker_values import (
    HOST_LABEL,
    MIN_MEMORY_BYTES,
    duration_seconds,
    is_registry_repository,
    memory_bytes,
)
from ansible_collections.flask_vps.stack.plugins.module_utils.role_checks import (
    role_checks,
)

# Ports: a TCP port each; the SSH port may be named twice (sshd, firewall).
PORTS = ["app_http_port", "app_https_port", "app_gunicorn_port", "sshd_port", "firewall_ssh_port"]
SSH_PORTS = {"sshd_port", "firewall_ssh_port"}
# Ports nginx listens on inside its container (the published ones map to them).
NGINX_CONTAINER_PORTS = {80: "HTTP", 443: "HTTPS"}
APP_MEMORY_LIMITS = ["app_memory_limit", "app_nginx_memory_limit"]
POSTGRES_MEMORY_LIMITS = ["postgres_memory_limit"]
MEMORY_LIMITS = APP_MEMORY_LIMITS + POSTGRES_MEMORY_LIMITS
SERVER_NAMES = ["app_server_name"]
# Docker durations of the health check (whole hours, minutes, seconds).
DURATIONS = ["app_healthcheck_interval", "app_healthcheck_timeout", "app_healthcheck_start_period"]
NGINX_SIZES = ["app_nginx_client_max_body_size"]
NGINX_TIMES = ["app_nginx_client_timeout"]
# Directories of the VPS the data directory must never be, or be inside of.
SYSTEM_DIRS = ["/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root", "/run", "/sbin",
               "/sys", "/tmp", "/usr", "/var", "/var/lib/docker", "/home", "/srv", "/opt"]
# Paths in the app container the data directory must not be mounted over.
RESERVED_MOUNTS = ["/app", "/tmp", "/run", "/run/secrets", "/run/gunicorn", "/etc", "/usr", "/proc", "/sys", "/dev"]
# A file of app_instance_files: a name in the instance folder itself.
INSTANCE_FILE_NAME = re.compile(r"^(?!\.\.?$)[A-Za-z0-9._-]+$")
# Environment names the app role sets itself.
ROLE_ENVIRONMENT = ["APP_DATA_DIR", "APP_RELEASE"]
# PostgreSQL names the postgres role creates (database, role).
POSTGRES_IDENTIFIERS = ["postgres_database", "postgres_user"]
# An unquoted PostgreSQL identifier of at most 63 bytes, not a pg_ (system) name.
POSTGRES_IDENTIFIER = re.compile(r"^(?!pg_)[a-z_][a-z0-9_]{0,62}$")
# Retention of the backups (restic forget --keep-*): positive integers.
BACKUP_RETENTION = ["backup_keep_last", "backup_keep_daily", "backup_keep_weekly", "backup_keep_monthly"]
BACKUP_SETTINGS = ["backup_enabled", "backup_repository", "backup_password", "backup_sftp_known_hosts",
                   "backup_sftp_accept_new_host_key"]
# Repository schemes restic opens itself (rclone: needs rclone, left out).
BACKUP_SCHEMES = ["sftp", "s3", "rest", "b2", "azure", "gs", "swift"]
BACKUP_ALLOWED = ("allowed are an absolute local path (/var/backups/flaskapp), sftp:user@host:/path, "
                  "s3:https://host/bucket/path, rest:https://host/path, or b2:, azure:, gs:, swift:")
HOST_NAME = re.compile(rf"^(\*\.)?({HOST_LABEL}\.)*{HOST_LABEL}\.?$")
# gunicorn's WSGI target: "module:attr" or an app factory "module:factory()".
WSGI_TARGET = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*):([A-Za-z_][A-Za-z0-9_]*)(\(\))?$")
# Whole numbers with a lower bound: (minimum, what the message says).
APP_NEVER_ROOT = "the app never runs as root; allowed is a positive id (10001)"
APP_MINIMUMS = {
    "app_uid": (1, APP_NEVER_ROOT),
    "app_gid": (1, APP_NEVER_ROOT),
    "app_keep_releases": (1, "the live release is always kept; allowed is 1 or more (5)"),
    "app_maintenance_retry_after": (1, "allowed is a number of seconds, 1 or more (300)"),
}
REGISTRY_SETTINGS = ["app_registry", "app_registry_username", "app_registry_password"]


def show(value):
    """A value as the inventory would write it: strings quoted, numbers bare."""
    return json.dumps(value)


def _whole_number(value):
    """The value as an int when it is a whole number, else None (the check of
    the types names a value of the wrong type)."""
    return int(value) if re.match(r"^-?[0-9]+$", str(value)) else None


def _below(value, minimum):
    """A whole number below `minimum` (the check of the types names a value
    of the wrong type)."""
    number = _whole_number(value)
    return number is not None and number < minimum


def _is_set(settings, name):
    return settings[name] not in (None, "")


def _ports(settings):
    errors = []
    ports = {}
    for name in PORTS:
        if not _is_set(settings, name):
            continue
        value = settings[name]
        if not re.match(r"^[0-9]+$", str(value)) or not 1 <= int(value) <= 65535:
            errors.append(f"{name}={show(value)} is not a TCP port: allowed are 1-65535.")
        else:
            ports[name] = int(value)
    names = sorted(ports)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            if ports[first] == ports[second] and not {first, second} <= SSH_PORTS:
                errors.append(f"Port collision: {first} and {second} are both {ports[first]}. Allowed: "
                              "app_http_port, app_https_port, app_gunicorn_port and the SSH port each on a "
                              "port of their own.")
    if ports.get("app_gunicorn_port") in NGINX_CONTAINER_PORTS:
        port = ports["app_gunicorn_port"]
        errors.append(f"app_gunicorn_port={port} is the port nginx serves {NGINX_CONTAINER_PORTS[port]} on in "
                      "its container: allowed is any other port (8000).")
    if settings["firewall_enabled"]:
        allowed = {int(p) for p in settings["firewall_allowed_tcp_ports"] or [] if re.match(r"^[0-9]+$", str(p))}
        for name in ("app_http_port", "app_https_port"):
            if name in ports and ports[name] not in allowed:
                errors.append(f"{name}={ports[name]} is not in firewall_allowed_tcp_ports "
                              f"({sorted(allowed)}): the firewall would keep the site closed; allowed is a "
                              "port the firewall opens (add it to firewall_allowed_tcp_ports).")
    if "sshd_port" in ports and "firewall_ssh_port" in ports and ports["sshd_port"] != ports["firewall_ssh_port"]:
        errors.append(f"firewall_ssh_port={ports['firewall_ssh_port']} differs from sshd_port={ports['sshd_port']}: "
                      "the firewall would close the port sshd listens on; allowed is the same port (or leave "
                      "firewall_ssh_port unset: it follows sshd_port).")
    return errors


def _memory(settings, names):
    errors = []
    for name in names:
        if not _is_set(settings, name):
            continue
        try:
            size = memory_bytes(settings[name])
        except ValueError:
            errors.append(f"{name}={show(settings[name])} is not a memory size: allowed is a number of bytes with an "
                          "optional unit b, k, m or g (512m, 1g).")
            continue
        if size < MIN_MEMORY_BYTES:
            errors.append(f"{name}={settings[name]} is below Docker's smallest memory limit: allowed is 6m or more "
                          "(512m).")
    return errors


def _server_names(settings):
    errors = []
    for name in SERVER_NAMES:
        value = settings[name]
        names = str(value).split() if isinstance(value, str) else []
        if value == "_":
            continue
        if not names or any(not HOST_NAME.match(n) for n in names) or max(map(len, names)) > 253:
            errors.append(f"{name}={show(value)} is not a host name: allowed are host names separated by spaces "
                          "(example.com www.example.com *.example.com) or _ for any Host.")
    return errors


def _app_settings(settings):
    errors = []
    name = str(settings["app_name"])
    if not re.match(r"^[a-z0-9][a-z0-9_-]*$", name):
        errors.append(f"app_name={show(name)} is not allowed: it names the compose projects, images and /srv/<app_name>;"
                      " allowed are lowercase letters, digits, - and _, starting with a letter or digit (flaskapp).")
    for var, example in (("app_healthcheck_path", "/healthz"), ("app_readiness_path", "/readyz")):
        path = str(settings[var])
        if var == "app_readiness_path" and path == "":
            continue  # the health check's path serves as both
        if not path.startswith("/") or re.search(r"[\s'\"\\]", path):
            errors.append(f"{var}={show(path)} is not a URL path: allowed is a path starting with / "
                          f"({example}), without spaces or quotes.")
    for var in DURATIONS:
        value = str(settings[var])
        try:
            duration_seconds(value, zero_allowed=var == "app_healthcheck_start_period")
        except ValueError:
            errors.append(f"{var}={show(value)} is not a health-check duration: allowed are whole hours, minutes and "
                          "seconds with their unit (5s, 1m, 1m30s).")
    url_path = str(settings["app_static_url_path"])
    if not url_path.startswith("/") or url_path.strip("/") == "":
        errors.append(f"app_static_url_path={show(url_path)} is not allowed: nginx would serve every URL from the "
                      "static folder; allowed is a path below / (/static).")
    static_dir = str(settings["app_static_dir"])
    normalized = posixpath.normpath(static_dir)
    app_src = str(settings["app_src"])
    if normalized in (".", "") or normalized.startswith("..") or static_dir.startswith("/"):
        errors.append(f"app_static_dir={show(static_dir)} is not allowed: nginx would publish the whole app source; "
                      "allowed is the static folder inside app_src (flaskapp/static).")
    elif os.path.isdir(app_src) and not os.path.isdir(os.path.join(app_src, normalized)):
        errors.append(f"app_static_dir={show(static_dir)} is not a directory in app_src={show(app_src)}: allowed is the "
                      "app's static folder, relative to app_src.")
    for var in NGINX_SIZES:
        value = str(settings[var])
        if not re.match(r"^[0-9]+[kKmMgG]?$", value):
            errors.append(f"{var}={show(value)} is not an nginx size: allowed is a number with an optional unit k, m "
                          "or g (1m, 512k).")
    for var in NGINX_TIMES:
        value = str(settings[var])
        if not re.match(r"^([0-9]+(ms|s|m|h|d|w|M|y)?)+$", value):
            errors.append(f"{var}={show(value)} is not an nginx time: allowed is a number with a unit ms, s, m, h, d "
                          "(15s, 1m).")
    expires = str(settings["app_static_expires"])
    if not re.match(r"^(max|off|epoch|-?([0-9]+(ms|s|m|h|d|w|M|y)?)+)$", expires):
        errors.append(f"app_static_expires={show(expires)} is not an nginx expiry: allowed is a time with a unit "
                      "(30d, 12h), max, off or epoch.")
    rate = str(settings["app_nginx_rate_limit"] or "")
    if rate and not re.match(r"^[0-9]+r/[sm]$", rate):
        errors.append(f"app_nginx_rate_limit={show(rate)} is not an nginx rate: allowed are requests per second or "
                      "minute (10r/s, 300r/m), or empty for no limit.")
    for header, value in (settings["app_nginx_security_headers"] or {}).items():
        if not re.match(r"^[A-Za-z0-9-]+$", str(header)) or re.search(r"[\"\\\n\r]", str(value)):
            errors.append(f"app_nginx_security_headers: {header}: {show(value)} is not allowed: header names are "
                          "letters, digits and -, values without double quotes, backslashes or line breaks.")
    for key in settings["app_environment"] or {}:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(key)):
            errors.append(f"app_environment key {show(key)} is not an environment variable name: allowed are letters, "
                          "digits and _, not starting with a digit.")
        elif key in ROLE_ENVIRONMENT:
            errors.append(f"app_environment sets {key}, which the app role sets itself: allowed are other names.")
    for key in settings["app_secrets"] or {}:
        if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", str(key)) or ".." in str(key):
            errors.append(f"app_secrets name {show(key)} is not allowed: it becomes the file /run/secrets/<name>; "
                          "allowed are letters, digits, _, - and . (not ..), no / or spaces.")
    for var, (minimum, allowed) in APP_MINIMUMS.items():
        if _below(settings[var], minimum):
            errors.append(f"{var}={settings[var]} is not allowed: {allowed}.")
    for archive in settings["app_image_archives"] or []:
        path = archive.get("archive") if isinstance(archive, dict) else None
        if path and not os.path.isfile(path):
            errors.append(f"app_image_archives: the archive of {archive.get('image')} is not a file on the "
                          f"controller ({path}): allowed is the path of a `docker save` archive.")
    return errors


def _maintenance_and_pages(settings):
    """Maintenance mode, error pages and the static fallback."""
    errors = []
    for address in settings["app_maintenance_allowed_addresses"] or []:
        try:
            ipaddress.ip_network(str(address), strict=False)
        except ValueError:
            errors.append(f"app_maintenance_allowed_addresses: {show(address)} is not an address: allowed are IPv4 "
                          "or IPv6 addresses and networks (203.0.113.7, 10.0.0.0/8).")
    pages = str(settings["app_error_pages_dir"] or "")
    if pages.startswith("/") or ".." in pages.split("/") or not re.match(r"^[A-Za-z0-9._/-]*$", pages):
        errors.append(f"app_error_pages_dir={show(pages)} is not allowed: allowed is a directory inside the static "
                      "folder (errors, pages/errors), or empty for nginx's own pages.")
    fallback, keep = _whole_number(settings["app_static_fallback_releases"]), _whole_number(settings["app_keep_releases"])
    if fallback is not None and keep is not None and not 0 <= fallback <= max(keep - 1, 1):
        errors.append(f"app_static_fallback_releases={fallback} is not allowed: a release's files are served only "
                      f"while it is kept (app_keep_releases={keep}); allowed are 0 to {max(keep - 1, 1)}.")
    if settings["app_release_command_rehearsal"] is True:
        # What the rehearsal needs (roles/app/tasks/rehearsal.yml).
        command = settings["app_release_command"]
        if not (command.strip() if isinstance(command, str) else command):
            errors.append("app_release_command_rehearsal=true is not allowed without app_release_command: there "
                          "is no release command to rehearse; allowed is false, or set app_release_command.")
        if settings["app_postgres"] is not True:
            errors.append("app_release_command_rehearsal=true is not allowed without app_postgres: the rehearsal "
                          "restores the database's snapshot into a temporary PostgreSQL; allowed is false.")
        if settings["app_fleet_hosts"]:
            errors.append("app_release_command_rehearsal=true is not allowed in the multi-host layout: PostgreSQL "
                          "is on the db host, where no snapshot is taken; allowed is false.")
    if settings["app_release_maintenance"] is True and settings["app_fleet_hosts"]:
        errors.append("app_release_maintenance=true is not allowed in the multi-host layout: the release command "
                      "runs on the first app host only; allowed is false (turn playbooks/maintenance.yml on "
                      "before the deploy instead).")
    return errors


def _wsgi_target(settings):
    target = settings["app_wsgi_target"]
    if WSGI_TARGET.match(str(target)):
        return []
    return [(f"app_wsgi_target={show(target)} is not a WSGI target: allowed are module:attr (wsgi:app) and an app "
             "factory module:factory() (flaskapp:create_app()).")]


JOB_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


def _jobs(settings):
    """app_jobs: named commands on a systemd calendar. Each calendar is
    checked on the VPS itself (systemd-analyze, tasks/validate.yml)."""
    jobs = settings["app_jobs"] or []
    if not isinstance(jobs, list):
        return [(f"app_jobs={show(jobs)} is not a list: allowed is a list of jobs, each with a name, a command and "
                "an on_calendar expression.")]
    errors, names = [], set()
    for index, job in enumerate(jobs):
        where = f"app_jobs[{index}]"
        if not isinstance(job, dict):
            errors.append(f"{where}={show(job)} is not a mapping: allowed is {{name: ..., command: ..., "
                          "on_calendar: ...}.")
            continue
        unknown = sorted(set(job) - {"name", "command", "on_calendar", "time_limit"})
        if unknown:
            errors.append(f"{where} has unknown keys {', '.join(unknown)}: allowed are name, command, on_calendar "
                          "and time_limit.")
        name = str(job.get("name", ""))
        if not JOB_NAME.fullmatch(name):
            errors.append(f"{where}.name={show(job.get('name'))} is not a job name: allowed are 1 to 40 lowercase "
                          "letters, digits, - and _, starting with a letter (it names the job's systemd units).")
        elif name in names:
            errors.append(f"{where}.name={name} names two jobs: allowed is one job per name.")
        names.add(name)
        command = job.get("command")
        if not command or not isinstance(command, (str, list)):
            errors.append(f"{where}.command={show(command)} is not a command: allowed is a non-empty string or "
                          "list, run in the live release like playbooks/run.yml's cmd.")
        if not str(job.get("on_calendar", "")).strip():
            errors.append(f"{where}.on_calendar is missing: allowed is a systemd calendar expression such as "
                          "daily or '*-*-* 03:00:00'.")
        limit = job.get("time_limit", settings["app_job_time_limit"])
        try:
            duration_seconds(limit)
        except ValueError:
            errors.append(f"{where}.time_limit={show(limit)} is not a duration: allowed are hours, minutes and "
                          "seconds such as 30m, 1h or 1h30m (more than zero).")
    return errors


def job_calendar_errors(results, jobs):
    """The jobs whose on_calendar `systemd-analyze calendar` refused on the VPS
    (the loop results over app_jobs of roles/app/tasks/validate.yml)."""
    errors = []
    for index, result in enumerate(results):
        if result.get("skipped") or result.get("rc") == 0:
            continue
        job = jobs[index]
        why = (result.get("stderr") or result.get("msg") or "").strip().splitlines()
        errors.append(f"app_jobs[{index}].on_calendar="
                      f"{show(job['on_calendar'])} (job {job.get('name')}) is not a calendar systemd accepts"
                      f"{': ' + why[-1] if why else ''}: allowed is a systemd calendar expression such as daily, "
                      "hourly or '*-*-* 03:00:00' (man systemd.time).")
    return errors


def _app_source(settings):
    """app_src is a directory on the controller (a relative path is relative
    to the directory ansible-playbook runs in) holding what a release builds
    from. Its WSGI module is looked for only when app_wsgi_target is one
    (_wsgi_target says when it is not); the other files regardless."""
    src = str(settings["app_src"])
    if not os.path.isdir(src):
        return [(f"app_src={show(src)} is not a directory on the controller: allowed is the directory of your Flask "
                 "app, holding the WSGI module, requirements.txt and a Dockerfile.")]
    needed = []  # (what, the paths in app_src of which one must be a file)
    target = str(settings["app_wsgi_target"])
    if WSGI_TARGET.match(target):
        module = target.split(":")[0]
        module_path = module.replace(".", "/")
        needed.append((f"the WSGI module {module} named by app_wsgi_target={target}",
                       [f"{module_path}.py", f"{module_path}/__init__.py"]))
    needed += [("requirements.txt", ["requirements.txt"]), ("a Dockerfile", ["Dockerfile"])]
    return [f"app_src={show(src)} lacks {what} ({' or '.join(paths)}): app_src must hold the WSGI module named by "
            "app_wsgi_target, requirements.txt and a Dockerfile."
            for what, paths in needed if not any(os.path.isfile(os.path.join(src, path)) for path in paths)]


def _data_dir(settings):
    errors = []
    root = posixpath.normpath(str(settings["app_root"]))
    if _is_set(settings, "app_data_dir"):
        value = str(settings["app_data_dir"])
        path = posixpath.normpath(value)
        releases = posixpath.join(root, "releases")
        if not value.startswith("/"):
            reason = "it is relative"
        elif path == root:
            reason = f"it is app_root ({root}), which holds the releases"
        elif path == releases or path.startswith(releases + "/"):
            reason = f"it is inside {releases}, which pruning deletes"
        elif path in SYSTEM_DIRS:
            reason = "it is a system directory"
        else:
            reason = ""
        if reason:
            errors.append(f"app_data_dir={show(value)} is not allowed: {reason}; allowed is an absolute directory of "
                          f"its own ({root}/data, /var/lib/flaskapp).")
    if _is_set(settings, "app_data_mount"):
        value = str(settings["app_data_mount"])
        path = posixpath.normpath(value)
        if not value.startswith("/") or path in RESERVED_MOUNTS or path == "/":
            errors.append(f"app_data_mount={show(value)} is not allowed: it must be an absolute path in the container "
                          f"that the app's own files do not use (not {', '.join(RESERVED_MOUNTS)}); allowed: /data.")
    return errors + _instance(settings)


def _instance(settings):
    """Flask's instance folder: a path of its own in the container, and
    plain file names in it."""
    errors = []
    if _is_set(settings, "app_instance_path"):
        value = str(settings["app_instance_path"])
        path = posixpath.normpath(value)
        data = posixpath.normpath(str(settings["app_data_mount"]))
        overlaps = path == data or path.startswith(data + "/") or data.startswith(path + "/")
        if not value.startswith("/") or path in RESERVED_MOUNTS or path == "/" or overlaps:
            errors.append(f"app_instance_path={show(value)} is not allowed: it must be an absolute path in the "
                          f"container apart from app_data_mount ({data}) and not one of {', '.join(RESERVED_MOUNTS)}; "
                          "allowed: Flask's app.instance_path, /app/instance for an app in /app.")
    files = settings["app_instance_files"] or {}
    if isinstance(files, dict):
        for name, content in files.items():
            if not INSTANCE_FILE_NAME.match(str(name)):
                errors.append(f"app_instance_files name {show(name)} is not allowed: allowed is a file name of "
                              "letters, digits, ., _ and - (config.py), no directory.")
            elif not isinstance(content, str):
                errors.append(f"app_instance_files {name} is a {type(content).__name__}: allowed is the file's "
                              "text (a string).")
    return errors


def _postgres_names(settings):
    errors = []
    for var in POSTGRES_IDENTIFIERS:
        if not POSTGRES_IDENTIFIER.match(str(settings[var])):
            errors.append(f"{var}={show(settings[var])} is not allowed: PostgreSQL names here are lower-case "
                          "letters, digits and _, not starting with a digit or pg_, at most 63 characters (app).")
    return errors


def _workers(settings):
    errors = []
    names = [worker.get("name") for worker in settings["app_workers"] or [] if isinstance(worker, dict)]
    for name in names:
        if not re.match(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$", str(name)) or names.count(name) > 1:
            errors.append(f"app_workers name {show(name)} is not allowed: each worker has its own name of lower-case "
                          "letters, digits and - (at most 32 characters).")
    if settings["app_postgres"] and "database_url" in (settings["app_secrets"] or {}):
        errors.append("app_secrets has database_url, which app_postgres=true writes itself: allowed are other "
                      "names, or app_postgres=false with your own database_url.")
    return errors


def _shown_repository(repository):
    """A rest: or s3: URL may hold a password: never shown."""
    return show(re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", repository))


def _backup_repository_outside_the_data(settings):
    """The backups' local repository is not inside the app's data directory,
    which is backed up into it (spans the backup and app roles)."""
    if not settings["backup_enabled"]:
        return []
    repository = str(settings["backup_repository"] or "")
    data_dir = posixpath.normpath(str(settings["app_data_dir"]))
    if repository.startswith("/") and (posixpath.normpath(repository) + "/").startswith(data_dir + "/"):
        return [(f"backup_repository={_shown_repository(repository)} is inside app_data_dir ({data_dir}), which is "
                "backed up into it: allowed is a path outside it, better on another machine.")]
    return []


def _backups(settings):
    errors = []
    for var in BACKUP_RETENTION:
        value = settings[var]
        if isinstance(value, bool) or not re.match(r"^[0-9]+$", str(value)) or int(value) < 1:
            errors.append(f"{var}={show(value)} is not allowed: allowed is a positive whole number of snapshots "
                          "to keep (7).")
    if not settings["backup_enabled"]:
        return errors
    repository = str(settings["backup_repository"] or "")
    shown = _shown_repository(repository)
    scheme = repository.split(":", 1)[0] if ":" in repository and not repository.startswith("/") else ""
    if not repository:
        errors.append(f"backup_enabled=true needs backup_repository: {BACKUP_ALLOWED}.")
    elif not repository.startswith("/") and scheme not in BACKUP_SCHEMES:
        errors.append(f"backup_repository={shown} is not a restic repository this project can use: "
                      f"{BACKUP_ALLOWED}.")
    elif scheme == "sftp" and not settings["backup_sftp_known_hosts"] \
            and not settings["backup_sftp_accept_new_host_key"]:
        errors.append(f"backup_repository={shown} is an sftp server whose host key is not known: set "
                      "backup_sftp_known_hosts to its key lines (ssh-keyscan -t ed25519 <host>), or "
                      "backup_sftp_accept_new_host_key=true to trust the key it shows first.")
    if not settings["backup_password"]:
        errors.append("backup_enabled=true needs backup_password, the repository's encryption password: allowed is "
                      "a non-empty value from the vault (backup_password: \"{{ vault_backup_password }}\").")
    return errors


# The restore drill's memory, each of its unit and its PostgreSQL container.
DRILL_MIN_MEMORY_BYTES = 64 * 1024 ** 2


def _backup_drill(settings):
    """The restore drill's bounds (its calendar is checked by systemd on the
    VPS, with the other schedules of roles/backup/tasks/configure.yml)."""
    errors = []
    limit = settings["backup_drill_time_limit"]
    try:
        duration_seconds(limit)
    except ValueError:
        errors.append(f"backup_drill_time_limit={show(limit)} is not a duration: allowed are hours, minutes and "
                      "seconds such as 45m, 1h or 1h30m (more than zero).")
    memory = settings["backup_drill_memory_limit"]
    try:
        if memory_bytes(memory) < DRILL_MIN_MEMORY_BYTES:
            errors.append(f"backup_drill_memory_limit={memory} is too little for PostgreSQL and restic: allowed "
                          "is 64m or more (1g).")
    except ValueError:
        errors.append(f"backup_drill_memory_limit={show(memory)} is not a memory size: allowed is a number of "
                      "bytes with an optional unit b, k, m or g (512m, 1g).")
    cpus = settings["backup_drill_cpus"]
    if isinstance(cpus, bool) or not re.fullmatch(r"[0-9]+(\.[0-9]+)?", str(cpus)) or float(cpus) <= 0:
        errors.append(f"backup_drill_cpus={show(cpus)} is not allowed: allowed is a number of CPUs above zero "
                      "(0.5, 1, 2).")
    return errors


# The alerts' thresholds: {variable: (lowest, highest allowed)}.
ALERT_RANGES = {"alerts_disk_usage_percent": (1, 100), "alerts_inode_usage_percent": (1, 100),
                "alerts_repeat_hours": (1, 24 * 30), "alerts_certificate_days": (1, 90),
                "alerts_backup_max_age_hours": (1, 24 * 31), "alerts_crash_restarts": (1, 1000),
                "alerts_drill_max_age_days": (1, 90)}
ALERT_URLS = ["alerts_notify_url", "alerts_heartbeat_url"]


def _alerts(settings):
    errors = []
    for var, (low, high) in ALERT_RANGES.items():
        value = settings[var]
        if isinstance(value, bool) or not re.fullmatch(r"[0-9]+", str(value)) or not low <= int(value) <= high:
            errors.append(f"{var}={show(value)} is out of range: allowed is a whole number from {low} to {high}.")
    for var in ALERT_URLS:
        url = str(settings[var] or "")
        if url and not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url):
            # Shown without its path and query: they may hold a token.
            errors.append(f"{var}={show(url.split('/')[0] + '//...')} is not an http(s) URL: allowed is "
                          "https://host/path (or http://), or empty.")
    try:
        duration_seconds(settings["alerts_check_interval"])
    except ValueError:
        errors.append(f"alerts_check_interval={show(settings['alerts_check_interval'])} is not a duration: allowed "
                      "are hours, minutes and seconds such as 5m, 1h or 1h30m (more than zero).")
    for path in settings["alerts_disk_paths"] or []:
        if not str(path).startswith("/"):
            errors.append(f"alerts_disk_paths holds {show(path)}, not an absolute path: allowed are paths on the "
                          "VPS such as /srv or /var/backups.")
    return errors


def _registry(settings):
    registry = str(settings["app_registry"] or "")
    errors = []
    if registry and not is_registry_repository(registry):
        errors.append(f"app_registry={show(registry)} is not a registry repository: allowed is host[:port]/path "
                      "in lower case, without a tag (registry.example.com/team/flaskapp), or empty to ship "
                      "images through the controller.")
    if bool(settings["app_registry_username"]) != bool(settings["app_registry_password"]):
        errors.append("app_registry_username and app_registry_password go together: allowed are both (the "
                      "password from the vault) or neither, for a registry that wants no login.")
    return errors


def _key_blob(line):
    """The base64 part of an OpenSSH public key line, whatever its options and comment."""
    fields = str(line).split()
    for i, field in enumerate(fields):
        if field.startswith(("ssh-", "ecdsa-", "sk-")) and i + 1 < len(fields):
            return fields[i + 1]
    return None


def ssh_access_errors(settings, login_key="", bootstrap_user=""):
    """Settings that would lock everyone out once root login is closed.
    login_key: the public key of ansible_ssh_private_key_file, when known."""
    errors = []
    user = str(settings["deploy_user_name"] or "")
    if user == "root":
        errors.append('deploy_user_name="root" is not allowed: root login is closed once the deploy user works; '
                      "allowed is a user of its own (deploy).")
    elif user and not re.match(r"^[a-z_][a-z0-9_-]{0,31}$", user):
        errors.append(f"deploy_user_name={show(user)} is not a user name: allowed are lowercase letters, digits, "
                      "_ and -, starting with a letter or _, at most 32 characters (deploy).")
    allowed_users = [str(u) for u in settings["sshd_allow_users"] or []]
    if allowed_users:
        missing = [u for u in (user, bootstrap_user) if u and u not in allowed_users]
        if missing:
            errors.append(f"sshd_allow_users={show(allowed_users)} leaves out {', '.join(missing)}, whom Ansible logs "
                          "in as: sshd would refuse it; allowed is a list that includes deploy_user_name (and "
                          "vps_bootstrap_user until root login is closed).")
    keys = settings["deploy_user_authorized_keys"] or []
    keys = [keys] if isinstance(keys, str) else keys
    blobs = {_key_blob(line) for key in keys for line in str(key).splitlines()}
    if user and keys and login_key and _key_blob(login_key) not in blobs:
        errors.append("deploy_user_authorized_keys does not hold the public key of ansible_ssh_private_key_file "
                      f"({str(login_key).split()[0]} {_key_blob(login_key)[:16]}...), the key Ansible logs in with: "
                      "the deploy user would be locked out once root login is closed; allowed is a list that "
                      "includes it.")
    return errors


# Each role's own checks, which its validate entry point runs
# (roles/<role>/tasks/validate.yml) on the settings it hands preflight.
app_setting_errors = role_checks(
    "app", _wsgi_target, lambda settings: _memory(settings, APP_MEMORY_LIMITS), _server_names,
    _app_settings, _data_dir, _workers, _registry, _app_source, _jobs, _maintenance_and_pages)
postgres_setting_errors = role_checks(
    "postgres", lambda settings: _memory(settings, POSTGRES_MEMORY_LIMITS), _postgres_names)
backup_setting_errors = role_checks("backup", _backups, _backup_drill)
alerts_setting_errors = role_checks("alerts", _alerts)


def cross_role_errors(settings):
    """Values that are wrong only together, across roles (preflight checks
    these itself): ports that collide or that the firewall keeps closed, a
    backup repository inside the data it backs up."""
    return _ports(settings) + _backup_repository_outside_the_data(settings)


# What Ansible reads as a boolean, as -e gives it (a string) or as JSON.
BOOLEAN_WORDS = ("true", "false", "yes", "no", "on", "off", "1", "0")


def rollback_input_errors(inputs):
    """playbooks/rollback.yml's -e values ({with_data}), before any change:
    with_data must be a boolean (-e with_data=true)."""
    with_data = inputs.get("with_data", False)
    if isinstance(with_data, bool) or str(with_data).strip().lower() in BOOLEAN_WORDS:
        return []
    return [(f"with_data={show(with_data)} is not allowed: allowed is true or false "
             "(-e with_data=true rolls the database back with the code, with -e confirm=<the live release>).")]


class FilterModule:
    def filters(self):
        return {
            "rollback_input_errors": rollback_input_errors,
            "app_setting_errors": app_setting_errors,
            "app_job_calendar_errors": job_calendar_errors,
            "postgres_setting_errors": postgres_setting_errors,
            "backup_setting_errors": backup_setting_errors,
            "alerts_setting_errors": alerts_setting_errors,
            "cross_role_errors": cross_role_errors,
            "ssh_access_errors": ssh_access_errors,
        }
