"""Bad input is refused by the preflight play of site.yml before anything
changes; good input passes it.

Every bad case runs the real site.yml against a real test VPS and asserts
that ansible-playbook fails at the preflight task the case names (its gate),
that the output names the offending variable or fact and what is allowed,
that neither the docker nor the app role started, and that the VPS is exactly
as it was before the run.

Each ansible-playbook run costs about 3 s of CPU, so cases refused by one of
the gates that report every bad value at once (BATCHED_GATES) share a run:
up to BATCH_SIZE cases on one target, without setup hooks, that set disjoint
variables (counting the role defaults derived from them: app_name gives
app_root) and whose expected strings name none of the other cases'
variables. Each case stays one test, asserted on the batch's output. A case
the batch does not satisfy (its strings missing, another failing task, a
change on the VPS, ...) runs alone as the other cases do, its test asserts on
that run and warns (BatchFallback) so that the grouping can be fixed.
"""

import difflib
import json
import re
import shutil
import subprocess
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from conftest import DOCKER_CE_REPO

REPO = Path(__file__).resolve().parents[2]


def ev(**values):
    """Extra vars as JSON, so that types survive (-e k=v makes strings)."""
    return json.dumps(values)


# Docker CE from the stand-in of Docker's repository (tests/preflight/conftest.py).
DOCKER_CE = [ev(docker_install_from="docker", docker_apt_repository_url=DOCKER_CE_REPO,
                docker_apt_key_url=f"{DOCKER_CE_REPO}/gpg")]


@pytest.fixture(scope="session")
def apps(tmp_path_factory):
    """Copies of the sample app with one required file missing, and keys."""
    base = tmp_path_factory.mktemp("apps")
    made = {}
    for missing in ("requirements.txt", "Dockerfile"):
        path = base / f"without-{missing}"
        shutil.copytree(REPO / "files" / "app", path)
        (path / missing).unlink()
        made[missing] = str(path)
    key = base / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deploy@test",
                    "-f", str(key)], check=True)
    made["public_key"] = (base / "id_ed25519.pub").read_text().strip()
    made["private_key_file"] = str(key)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "someone@else",
                    "-f", str(base / "other_ed25519")], check=True)
    made["other_public_key"] = (base / "other_ed25519.pub").read_text().strip()
    kind, blob, comment = made["public_key"].split()
    made["cut_key"] = f"{kind} {blob[:40]} {comment}"
    # An own certificate for example.com and www.example.com, its key, another key.
    for name in ("site", "other"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "30", "-subj", "/CN=example.com",
                        "-addext", "subjectAltName=DNS:example.com,DNS:www.example.com",
                        "-keyout", str(base / f"{name}.key"), "-out", str(base / f"{name}.crt")],
                       check=True, capture_output=True)
        made[f"{name}_key"] = (base / f"{name}.key").read_text()
    made["site_crt"] = (base / "site.crt").read_text()
    return made


def occupy_port(port):
    def setup(target):
        target.exec(f"cd / && exec python3 -m http.server {port} >/dev/null 2>&1 </dev/null &")
        deadline = time.monotonic() + 10
        while f":{port} " not in target.exec("ss -ltnH").stdout:
            assert time.monotonic() < deadline, f"nothing listens on {port} in {target.name}"
            time.sleep(0.2)

    def teardown(target):
        target.exec(f"pkill -f 'http.server {port}'", check=False)

    return setup, teardown


def fake_os(os_release, debian_version):
    saved = {}

    def setup(target):
        saved["debian_version"] = target.exec("cat /etc/debian_version").stdout
        target.exec(f"rm /etc/os-release && printf '{os_release}' > /etc/os-release"
                    f" && echo {debian_version} > /etc/debian_version")

    def teardown(target):
        target.exec("rm -f /etc/os-release && ln -s ../usr/lib/os-release /etc/os-release"
                    f" && printf %s '{saved['debian_version']}' > /etc/debian_version")

    return setup, teardown


DEBIAN_11 = ('PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\\nNAME="Debian GNU/Linux"\\n'
             'VERSION_ID="11"\\nVERSION="11 (bullseye)"\\nVERSION_CODENAME=bullseye\\nID=debian\\n')
UBUNTU_2404 = ('PRETTY_NAME="Ubuntu 24.04 LTS"\\nNAME="Ubuntu"\\nVERSION_ID="24.04"\\n'
               'VERSION="24.04 LTS (Noble Numbat)"\\nVERSION_CODENAME=noble\\nID=ubuntu\\n'
               'ID_LIKE=debian\\nUBUNTU_CODENAME=noble\\n')

# Good ACME settings, which the HTTPS cases spoil one at a time.
ACME = {"app_tls": "acme", "app_server_name": "example.com", "app_acme_email": "admin@example.com"}


class Case(NamedTuple):
    id: str
    gate: str  # the preflight task that refuses the input
    inventory: str  # the target
    extra_vars: list
    expected: list  # strings the output must contain
    hooks: tuple | None = None  # (setup, teardown) around the run


# The preflight tasks (roles/preflight/tasks/) that refuse several cases;
# a case's own is spelled out in its row.
TYPES = "Check variable types and choices"
VALUES = "Check the inventory values"
HTTPS = "Check the HTTPS settings"
SSH_KEYS = "Check the SSH public keys"
SSH_ACCESS = "Check that SSH access survives root login being closed"
DOCKER_VERSION = "Check Docker's repository has the Docker CE version"
OS = "Check the operating system is a supported Debian release"
PORTS = "Check the public ports are free or held by this stack"

# Gates on the controller that report every bad value at once (they join
# all errors, or loop over the values): their cases may share a run.
BATCHED_GATES = {TYPES, VALUES, HTTPS, SSH_KEYS, SSH_ACCESS}
BATCH_SIZE = 12

BAD = [Case(*row) for row in [
    ("docker-source-unknown", TYPES, "vps13", ["docker_install_from=snap"],
     ["docker_install_from", "one of: docker, debian", "got: snap"]),
    ("http-port-not-a-number", TYPES, "vps13", ["app_http_port=eighty"],
     ["app_http_port", "convert to int"]),
    ("environment-not-a-dict", TYPES, "vps13", [ev(app_environment=["DEBUG=1"])],
     ["app_environment", "convert to dict"]),
    ("image-archive-without-path", TYPES, "vps13",
     [ev(app_image_archives=[{"image": "python:3.13-slim"}])],
     ["app_image_archives", "archive"]),
    # The check Ansible runs as the preflight role starts, on its own argument specs.
    ("disk-threshold-not-a-number", "Validating arguments against arg spec 'main'", "vps13",
     ["preflight_min_free_disk_mb=lots"],
     ["preflight_min_free_disk_mb", "int"]),
    ("wsgi-target-without-colon", VALUES, "vps13", ["app_wsgi_target=wsgi.app"],
     ["app_wsgi_target", "module:attr", "module:factory()"]),
    ("wsgi-target-with-arguments", VALUES, "vps13", ["app_wsgi_target=wsgi:create_app(debug=True)"],
     ["app_wsgi_target", "module:attr", "module:factory()"]),
    ("http-port-out-of-range", VALUES, "vps13", [ev(app_http_port=70000)],
     ["app_http_port=70000", "1-65535"]),
    ("gunicorn-port-zero", VALUES, "vps13", [ev(app_gunicorn_port=0)],
     ["app_gunicorn_port=0", "1-65535"]),
    ("ssh-port-out-of-range", VALUES, "vps13", [ev(sshd_port=65536)],
     ["sshd_port=65536", "1-65535"]),
    ("gunicorn-port-collides-with-http", VALUES, "vps13", [ev(app_gunicorn_port=80)],
     ["app_gunicorn_port and app_http_port are both 80", "each on a port of their own"]),
    ("ssh-port-collides-with-gunicorn", VALUES, "vps13", [ev(firewall_ssh_port=8000)],
     ["app_gunicorn_port and firewall_ssh_port are both 8000", "each on a port of their own"]),
    ("server-name-with-bad-characters", VALUES, "vps13", ["app_server_name=my_site!"],
     ["app_server_name", "not a host name", "example.com www.example.com", "_ for any Host"]),
    ("server-name-empty-label", VALUES, "vps13", ["app_server_name=example..com"],
     ["app_server_name", "not a host name", "_ for any Host"]),
    ("memory-limit-words", VALUES, "vps13", ["app_memory_limit=lots"],
     ["app_memory_limit", "not a memory size", "b, k, m or g", "512m"]),
    ("memory-limit-with-space", VALUES, "vps13", [ev(app_memory_limit="512 MB")],
     ["app_memory_limit", "not a memory size", "512m"]),
    ("ssh-key-garbage", SSH_KEYS, "vps13", [ev(deploy_user_authorized_keys=["ssh-ed25519 notakey me@x"])],
     ["deploy_user_authorized_keys", "not an SSH public key", "ssh-ed25519 AAAA"]),
    ("ssh-key-truncated", SSH_KEYS, "vps13", ["@cut_key"],
     ["deploy_user_authorized_keys", "not an SSH public key", "one OpenSSH public key per line"]),
    ("app-src-missing", VALUES, "vps13", ["app_src=/nonexistent/app"],
     ["app_src=\"/nonexistent/app\"", "not a directory", "requirements.txt", "Dockerfile"]),
    ("app-src-without-requirements", VALUES, "vps13", ["@app_src=requirements.txt"],
     ["app_src=", "lacks requirements.txt", "WSGI module", "Dockerfile"]),
    ("app-src-without-dockerfile", VALUES, "vps13", ["@app_src=Dockerfile"],
     ["app_src=", "lacks a Dockerfile", "requirements.txt"]),
    ("app-src-without-wsgi-module", VALUES, "vps13", ["app_wsgi_target=main:app"],
     ["app_src=", "lacks the WSGI module main", "app_wsgi_target=main:app", "main.py"]),
    ("docker-channel-unknown", TYPES, "vps13", [*DOCKER_CE, "docker_apt_channel=nightly"],
     ["docker_apt_channel", "one of: stable, test", "got: nightly"]),
    ("docker-channel-not-in-repository", "Check Docker's repository has the channel", "vps12",
     [*DOCKER_CE, "docker_apt_channel=test"],
     ["docker_apt_channel=test is not a channel of", "Allowed: stable."]),
    ("docker-version-not-in-repository", DOCKER_VERSION, "vps12",
     [*DOCKER_CE, "docker_version=25.0.0"],
     ["docker_version=25.0.0 (5:25.0.0-1~debian.12~bookworm) is not in",
      "Allowed: 5:26.1.4-1~debian.12~bookworm, 5:26.1.5-1~debian.12~bookworm"]),
    ("docker-full-version-not-in-repository", DOCKER_VERSION, "vps13",
     [*DOCKER_CE, "docker_version=5:26.1.5-1~debian.12~bookworm"],
     ["docker_version=5:26.1.5-1~debian.12~bookworm", "is not in",
      "Allowed: 5:26.1.4-1~debian.13~trixie, 5:26.1.5-1~debian.13~trixie"]),
    # The stand-in's other-arch tree: its Release lists only the other architecture.
    ("docker-architecture-not-in-repository", "Check Docker's repository has this architecture", "vps13",
     [*DOCKER_CE, ev(docker_apt_repository_url=DOCKER_CE_REPO.replace("/debian", "/other-arch"))],
     ["docker_apt_repository_url=http://docker-ce-repo/linux/other-arch has no packages",
      "architecture", "Allowed: a repository with"]),
    ("docker-repository-unreachable", "Check Docker's repository answers", "vps13",
     [*DOCKER_CE, ev(docker_apt_repository_url="http://docker-ce-repo/no/such/repo")],
     ["docker_apt_repository_url=http://docker-ce-repo/no/such/repo gave no Release file",
      "HTTP Error 404"]),
    ("debian-docker-on-debian-12", "Check the Docker source suits this Debian release", "vps12",
     [],
     ["docker_install_from=debian is not allowed on Debian 12",
      "Allowed on this host: docker_install_from=docker"]),
    ("debian-11", OS, "fake", [],
     ["distribution", "Debian 11", "bullseye", "Allowed: Debian 12 (bookworm), Debian 13 (trixie)"],
     fake_os(DEBIAN_11, "11.11")),
    ("ubuntu", OS, "fake", [],
     ["distribution", "Ubuntu 24.04", "Allowed: Debian 12 (bookworm), Debian 13 (trixie)"],
     fake_os(UBUNTU_2404, "trixie/sid")),
    ("32-bit-architecture", "Check the architecture is supported", "fake32", [],
     ["ansible_facts['architecture'] is i386", "Allowed: x86_64, aarch64"]),
    ("python-missing", "Check Python is installed on the VPS", "nopy", [],
     ["Python is missing on the VPS", "python3", "ansible_python_interpreter"]),
    ("too-little-disk", "Check there is enough free disk space for Docker images", "vps13",
     [ev(preflight_min_free_disk_mb=100_000_000)],
     ["Not enough free disk space", "preflight_min_free_disk_mb asks for at least 100000000 MB"]),
    ("port-80-taken", PORTS, "vps13", [],
     ["Port 80 (app_http_port) on the VPS is already taken by python3", "not this stack",
      "Allowed: a free port"], occupy_port(80)),
    ("port-443-taken", PORTS, "vps13", [],
     ["Port 443 (app_https_port) on the VPS is already taken by python3", "Allowed: a free port"],
     occupy_port(443)),
    ("http-port-moved-onto-busy-port", PORTS, "vps13",
     [ev(app_http_port=8080, firewall_allowed_tcp_ports=[8080, 443])],
     ["Port 8080 (app_http_port) on the VPS is already taken by python3"], occupy_port(8080)),
    ("sysctl-unknown-key", "Check the VPS's kernel has those sysctl settings", "vps13",
     [ev(base_sysctl_settings={"net.ipv4.no_such_setting": 1})],
     ["base_sysctl_settings names net.ipv4.no_such_setting", "/proc/sys/net/ipv4/no_such_setting",
      "Allowed: a setting that `sysctl -a` lists"]),
    ("sysctl-value-a-list", "Check the sysctl values are numbers or words", "vps13",
     [ev(base_sysctl_settings={"net.ipv4.tcp_syncookies": [1]})],
     ["base_sysctl_settings sets net.ipv4.tcp_syncookies to [1]", "allowed is a number or a non-empty string"]),
    # The inventory values of the app, the firewall and sshd (filter_plugins/input_checks.py).
    ("app-name-with-capitals", VALUES, "vps13", ["app_name=FlaskApp"],
     ['app_name="FlaskApp" is not allowed', "lowercase letters, digits, - and _"]),
    ("app-name-with-dots", VALUES, "vps13", ["app_name=flask.app"],
     ['app_name="flask.app" is not allowed', "lowercase letters"]),
    ("http-port-closed-by-the-firewall", VALUES, "vps13", [ev(app_http_port=8080)],
     ["app_http_port=8080 is not in firewall_allowed_tcp_ports", "add it to firewall_allowed_tcp_ports"]),
    ("job-name-not-an-identifier", VALUES, "vps13",
     [ev(app_jobs=[{"name": "Send digest", "command": "flask send-digest", "on_calendar": "daily"}])],
     ['app_jobs[0].name="Send digest" is not a job name', "lowercase letters"]),
    # systemd's own grammar, read by the VPS's systemd-analyze.
    ("job-calendar-systemd-refuses", VALUES, "vps13",
     [ev(app_jobs=[{"name": "digest", "command": "flask send-digest", "on_calendar": "every night"}])],
     ['app_jobs[0].on_calendar="every night" (job digest) is not a calendar systemd accepts',
      "man systemd.time"]),
    ("job-time-limit-not-a-duration", VALUES, "vps13",
     [ev(app_jobs=[{"name": "digest", "command": "flask send-digest", "on_calendar": "daily",
                    "time_limit": "an hour"}])],
     ['app_jobs[0].time_limit="an hour" is not a duration']),
    # The alerts role's values; the URL is shown without its path (a token).
    ("alerts-url-not-http", VALUES, "vps13", [ev(alerts_notify_url="ftp://alerts.example.com/secret-token")],
     ['alerts_notify_url="ftp://..." is not an http(s) URL', "https://host/path"]),
    ("alerts-threshold-out-of-range", VALUES, "vps13", [ev(alerts_disk_usage_percent=150)],
     ["alerts_disk_usage_percent=150 is out of range: allowed is a whole number from 1 to 100"]),
    ("alerts-command-of-an-earlier-version", VALUES, "vps13", [ev(app_acme_notify_command="true")],
     ["app_acme_notify_command is no longer used; alerts_notify_command sends every alert"]),
    # A rehearsal of the release command needs one, and PostgreSQL.
    ("rehearsal-without-a-release-command", VALUES, "vps13",
     [ev(app_release_command_rehearsal=True, app_postgres=True)],
     ["app_release_command_rehearsal=true is not allowed without app_release_command"]),
    # Maintenance mode, error pages and the static fallback.
    ("maintenance-address-not-an-address", VALUES, "vps13", [ev(app_maintenance_allowed_addresses=["office"])],
     ['app_maintenance_allowed_addresses: "office" is not an address']),
    ("static-fallback-beyond-the-kept-releases", VALUES, "vps13",
     [ev(app_static_fallback_releases=3, app_keep_releases=2)],
     ["app_static_fallback_releases=3 is not allowed", "allowed are 0 to 1"]),
    ("gunicorn-port-is-nginx-https", VALUES, "vps13", [ev(app_gunicorn_port=443)],
     ["app_gunicorn_port=443 is the port nginx serves HTTPS on in its container"]),
    ("ssh-port-differs-in-the-firewall", VALUES, "vps13", [ev(firewall_ssh_port=2222)],
     ["firewall_ssh_port=2222 differs from sshd_port=22", "allowed is the same port"]),
    ("healthcheck-path-without-slash", VALUES, "vps13", ["app_healthcheck_path=healthz"],
     ['app_healthcheck_path="healthz" is not a URL path', "starting with /"]),
    ("healthcheck-interval-in-milliseconds", VALUES, "vps13", ["app_healthcheck_interval=500ms"],
     ['app_healthcheck_interval="500ms" is not a health-check duration', "5s, 1m, 1m30s"]),
    ("healthcheck-timeout-without-unit", VALUES, "vps13", ["app_healthcheck_timeout=5"],
     ['app_healthcheck_timeout="5" is not a health-check duration']),
    ("static-url-path-root", VALUES, "vps13", ["app_static_url_path=/"],
     ['app_static_url_path="/" is not allowed', "a path below /"]),
    ("static-url-path-relative", VALUES, "vps13", ["app_static_url_path=static"],
     ['app_static_url_path="static" is not allowed']),
    ("static-dir-whole-source", VALUES, "vps13", ["app_static_dir=."],
     ['app_static_dir="." is not allowed', "publish the whole app source"]),
    ("static-dir-missing", VALUES, "vps13", ["app_static_dir=flaskapp/assets"],
     ['app_static_dir="flaskapp/assets" is not a directory in app_src']),
    ("nginx-size-in-megabytes", VALUES, "vps13", ["app_nginx_client_max_body_size=10MB"],
     ['app_nginx_client_max_body_size="10MB" is not an nginx size', "1m, 512k"]),
    ("nginx-expiry-in-words", VALUES, "vps13", [ev(app_static_expires="30 days")],
     ['app_static_expires="30 days" is not an nginx expiry', "30d"]),
    ("nginx-time-in-words", VALUES, "vps13", [ev(app_nginx_client_timeout="15 sec")],
     ['app_nginx_client_timeout="15 sec" is not an nginx time', "15s"]),
    ("nginx-rate-without-r", VALUES, "vps13", ["app_nginx_rate_limit=10/s"],
     ['app_nginx_rate_limit="10/s" is not an nginx rate', "10r/s"]),
    ("security-header-with-quote", VALUES, "vps13",
     [ev(app_nginx_security_headers={"X-Frame-Options": 'DENY" always; add_header X-Evil "1'})],
     ["app_nginx_security_headers: X-Frame-Options", "without double quotes"]),
    ("environment-key-not-a-name", VALUES, "vps13", [ev(app_environment={"MY-SETTING": "1"})],
     ['app_environment key "MY-SETTING" is not an environment variable name']),
    ("environment-shadows-the-role", VALUES, "vps13", [ev(app_environment={"APP_RELEASE": "mine"})],
     ["app_environment sets APP_RELEASE, which the app role sets itself"]),
    ("secret-name-leaves-the-directory", VALUES, "vps13", [ev(app_secrets={"../../etc/cron.d/x": "1"})],
     ['app_secrets name "../../etc/cron.d/x" is not allowed', "no / or spaces"]),
    ("secret-name-with-space", VALUES, "vps13", [ev(app_secrets={"secret key": "1"})],
     ['app_secrets name "secret key" is not allowed']),
    ("app-uid-root", VALUES, "vps13", [ev(app_uid=0)],
     ["app_uid=0 is not allowed", "never runs as root"]),
    ("keep-no-releases", VALUES, "vps13", [ev(app_keep_releases=0)],
     ["app_keep_releases=0 is not allowed", "1 or more"]),
    ("postgres-version-not-offered", TYPES, "vps13", [ev(app_postgres=True, postgres_version="12")],
     ["postgres_version", "one of: 13, 14, 15, 16, 17, 18", "got: 12"]),
    ("postgres-database-name-rejected", VALUES, "vps13", [ev(app_postgres=True, postgres_database="my-shop")],
     ['postgres_database="my-shop" is not allowed', "lower-case letters, digits and _"]),
    ("postgres-role-reserved", VALUES, "vps13", [ev(app_postgres=True, postgres_user="pg_app")],
     ['postgres_user="pg_app" is not allowed', "not starting with a digit or pg_"]),
    ("worker-name-twice", VALUES, "vps13",
     [ev(app_workers=[{"name": "mail", "command": "a"}, {"name": "mail", "command": "b"}])],
     ['app_workers name "mail" is not allowed']),
    # Backups (the backup role).
    ("backup-repository-unknown-scheme", VALUES, "vps13",
     [ev(backup_enabled=True, backup_repository="ftp://backup.example.com/flaskapp", backup_password="x")],
     ['backup_repository="ftp://backup.example.com/flaskapp" is not a restic repository',
      "sftp:user@host:/path", "s3:https://host/bucket/path"]),
    ("backup-password-missing", VALUES, "vps13", [ev(backup_enabled=True, backup_repository="/var/backups/flaskapp")],
     ["backup_enabled=true needs backup_password", "from the vault"]),
    ("registry-with-scheme-and-tag", VALUES, "vps13", [ev(app_registry="https://registry.example.com/app:1")],
     ['app_registry="https://registry.example.com/app:1" is not a registry repository',
      "allowed is host[:port]/path"]),
    ("backup-retention-zero", VALUES, "vps13", [ev(backup_keep_daily=0)],
     ["backup_keep_daily=0 is not allowed", "a positive whole number"]),
    ("backup-retention-not-a-number", TYPES, "vps13", ["backup_keep_weekly=four"],
     ["backup_keep_weekly", "convert to int"]),
    ("backup-sftp-host-key-unknown", VALUES, "vps13",
     [ev(backup_enabled=True, backup_repository="sftp:backup@backup.example.com:/srv/restic", backup_password="x")],
     ["is an sftp server whose host key is not known", "backup_sftp_known_hosts", "ssh-keyscan"]),
    ("memory-below-docker-minimum", VALUES, "vps13", ["app_memory_limit=4m"],
     ["app_memory_limit=4m is below Docker's smallest memory limit", "6m or more"]),
    ("image-archive-missing", VALUES, "vps13",
     [ev(app_image_archives=[{"image": "python:3.13-slim", "archive": "/nonexistent/python.tar.gz"}])],
     ["the archive of python:3.13-slim is not a file on the controller (/nonexistent/python.tar.gz)"]),
    # The data directory (app_data_dir on the VPS, app_data_mount in the container).
    ("data-dir-relative", VALUES, "vps13", ["app_data_dir=data"],
     ['app_data_dir="data" is not allowed: it is relative', "/srv/flaskapp/data"]),
    ("data-dir-is-app-root", VALUES, "vps13", ["app_data_dir=/srv/flaskapp"],
     ['app_data_dir="/srv/flaskapp" is not allowed: it is app_root']),
    ("data-dir-inside-releases", VALUES, "vps13", ["app_data_dir=/srv/flaskapp/releases/data"],
     ["it is inside /srv/flaskapp/releases, which pruning deletes"]),
    ("data-dir-system-directory", VALUES, "vps13", ["app_data_dir=/etc"],
     ['app_data_dir="/etc" is not allowed: it is a system directory']),
    ("data-mount-relative", VALUES, "vps13", ["app_data_mount=data"],
     ['app_data_mount="data" is not allowed', "allowed: /data"]),
    ("data-mount-over-the-app", VALUES, "vps13", ["app_data_mount=/app"],
     ['app_data_mount="/app" is not allowed']),
    ("data-mount-over-secrets", VALUES, "vps13", ["app_data_mount=/run/secrets"],
     ['app_data_mount="/run/secrets" is not allowed']),
    ("data-mount-over-tmp", VALUES, "vps13", ["app_data_mount=/tmp"],
     ['app_data_mount="/tmp" is not allowed']),
    ("instance-folder-in-the-data-mount", VALUES, "vps13", ["app_instance_path=/data/instance"],
     ['app_instance_path="/data/instance" is not allowed', "apart from app_data_mount (/data)"]),
    ("instance-file-in-a-directory", VALUES, "vps13", [ev(app_instance_files={"conf/app.py": "X = 1"})],
     ['app_instance_files name "conf/app.py" is not allowed']),
    # SSH access that closing root login would take away.
    ("deploy-user-root", SSH_ACCESS, "vps13", [ev(deploy_user_name="root")],
     ['deploy_user_name="root" is not allowed', "a user of its own"]),
    ("deploy-user-invalid-name", SSH_ACCESS, "vps13", [ev(deploy_user_name="Deploy User")],
     ['deploy_user_name="Deploy User" is not a user name']),
    ("sshd-allow-users-without-the-deploy-user", SSH_ACCESS, "vps13",
     [ev(deploy_user_name="deploy", sshd_allow_users=["alice"])],
     ['sshd_allow_users=["alice"] leaves out deploy', "includes deploy_user_name"]),
    ("keys-without-the-login-key", SSH_ACCESS, "vps13", ["@keys_without_the_login_key"],
     ["deploy_user_authorized_keys does not hold the public key of ansible_ssh_private_key_file",
      "would be locked out"]),
    ("tls-for-any-host", HTTPS, "vps13", [ev(**{**ACME, "app_server_name": "_"})],
     ["app_tls=acme needs the site's host names in app_server_name", "example.com www.example.com"]),
    ("tls-for-an-ip-address", HTTPS, "vps13", [ev(**{**ACME, "app_server_name": "203.0.113.7"})],
     ["app_server_name holds IP addresses (203.0.113.7)", "allowed are host names"]),
    ("acme-wildcard-name", HTTPS, "vps13", [ev(**{**ACME, "app_server_name": "*.example.com"})],
     ["wildcard names (*.example.com)", "HTTP-01", "app_tls=files"]),
    ("acme-email-malformed", HTTPS, "vps13", [ev(**{**ACME, "app_acme_email": "admin.example.com"})],
     ["app_acme_email='admin.example.com' is not an e-mail address"]),
    ("acme-directory-not-https", HTTPS, "vps13", [ev(**{**ACME, "app_acme_directory_url": "http://ca.example/dir"})],
     ["app_acme_directory_url='http://ca.example/dir' is not an https URL"]),
    ("own-certificate-file-missing", "Check the own certificate files could be read", "vps13",
     [ev(app_tls="files", app_server_name="example.com",
         app_tls_certificate="{{ lookup('file', '/nonexistent/site.crt') }}")],
     ["app_tls_certificate", "/nonexistent/site.crt"]),
    ("own-key-does-not-match", HTTPS, "vps13", ["@tls_files=example.com:other_key"],
     ["app_tls_certificate_key is not the key of app_tls_certificate"]),
    ("own-certificate-does-not-cover", HTTPS, "vps13", ["@tls_files=example.com shop.example.com:site_key"],
     ["app_tls_certificate does not cover shop.example.com", "example.com www.example.com"]),
]]


def expand(extra_vars, apps):
    """@name placeholders stand for values made at run time."""
    out = []
    for value in extra_vars:
        if value == "@keys_without_the_login_key":
            out.append(ev(deploy_user_name="deploy", deploy_user_authorized_keys=[apps["other_public_key"]],
                          ansible_ssh_private_key_file=apps["private_key_file"]))
        elif value.startswith("@tls_files="):
            names, key = value.split("=", 1)[1].split(":")
            out.append(ev(app_tls="files", app_server_name=names,
                          app_tls_certificate=apps["site_crt"], app_tls_certificate_key=apps[key]))
        elif value == "@cut_key":
            out.append(ev(deploy_user_authorized_keys=[apps["cut_key"]]))
        elif value.startswith("@app_src="):
            out.append(ev(app_src=apps[value.split("=", 1)[1]]))
        else:
            out.append(value)
    return out


def snapshot_diff(before, after):
    return "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(),
                                          "before", "after", lineterm="", n=0))[:4000]


def assert_unchanged(before, after, name):
    if before != after:
        pytest.fail(f"{name} changed during the run:\n{snapshot_diff(before, after)}")


# A task of the docker or app role other than those of the entry points
# preflight runs, which only read: validate (the role's settings and their
# checks, the app's job calendars read by systemd-analyze) and the docker
# role's check_host.
PREFLIGHT_ENTRY_POINT_TASKS = ["Hand the \\1 role's settings to preflight", "Check the \\1 role's values",
                               "Read the jobs' calendars with systemd",
                               "Check the Docker source suits this Debian release"]
ROLE_STARTED = re.compile(rf"^TASK \[(docker|app) : (?!({'|'.join(PREFLIGHT_ENTRY_POINT_TASKS)})\])", re.MULTILINE)


def early_refusal_problems(run):
    """What keeps a run from being refused before any role changed the VPS."""
    problems = ["ansible-playbook succeeded"] if run.rc == 0 else []
    if "Traceback" in run.output:
        problems.append("'Traceback' in the output")
    return problems + [f"{started.group(0)!r} in the output" for started in ROLE_STARTED.finditer(run.output)]


def assert_refused_before_changes(run):
    problems = early_refusal_problems(run)
    assert not problems, (problems, run)


def refusal_problems(case, run, before, after):
    """What keeps a run from showing this case refused before any change:
    nothing, or the failed checks."""
    problems = early_refusal_problems(run)
    if run.failed_task != case.gate:
        problems.append(f"the failing task is {run.failed_task!r}, not {case.gate!r}")
    problems += [f"{text!r} missing from the output" for text in case.expected if text not in run.output]
    if before != after:
        problems.append(f"the VPS changed during the run:\n{snapshot_diff(before, after)}")
    return problems


def role_defaults_from_templates():
    """Each role default that is a template, with the words it uses."""
    uses = {}
    for path in sorted((REPO / "roles").glob("*/defaults/main.yml")):
        for name, value in (yaml.safe_load(path.read_text()) or {}).items():
            if isinstance(value, str) and "{{" in value:
                uses[name] = set(re.findall(r"\w+", value))
    return uses


def plan_batches(cases):
    """Batch key -> the cases that share one run (see the module docstring)."""
    uses = role_defaults_from_templates()

    def names(case):
        """The variables the case sets, and the defaults derived from them."""
        found = set()
        for value in expand(case.extra_vars, defaultdict(str)):
            found |= set(json.loads(value)) if value.startswith("{") else {value.split("=", 1)[0]}
        while more := {name for name, used in uses.items() if used & found} - found:
            found |= more
        return found

    def mention(texts, names):
        return any(re.search(rf"\b{re.escape(name)}\b", text) for text in texts for name in names)

    def clash(a, b):
        """Whether a and b must not share a run: one would change what the
        other's check sees, or could print the other's expected strings."""
        return names_of[a.id] & names_of[b.id] or mention(a.expected, names_of[b.id]) \
            or mention(b.expected, names_of[a.id])

    names_of = {case.id: names(case) for case in cases}
    batches = {}
    for case in cases:
        if case.hooks or case.gate not in BATCHED_GATES:
            continue
        number = 1
        while True:
            members = batches.setdefault(f"{case.inventory}: {case.gate} ({number})", [])
            if len(members) < BATCH_SIZE and not any(clash(case, other) for other in members):
                members.append(case)
                break
            number += 1
    return {key: members for key, members in batches.items() if len(members) > 1}


BATCHES = plan_batches(BAD)
BATCH_OF = {case.id: key for key, members in BATCHES.items() for case in members}


def observed_run(targets, run_playbook, inventory, extra_vars, hooks=None):
    """One ansible-playbook run against the inventory's target, between the
    hooks' setup and teardown: (run, before, after), the target's snapshots
    around it. A target the run changed is reset for the cases after."""
    target = targets[inventory]
    setup, teardown = hooks or (None, None)
    if setup:
        setup(target)
    try:
        before = target.snapshot()
        run = run_playbook(inventory, extra_vars)
        after = target.snapshot()
    finally:
        if teardown:
            teardown(target)
    if run.rc == 0 or before != after:
        target.reset()
    return run, before, after


class BatchFallback(UserWarning):
    """A batched case that its batch's run did not satisfy, so it ran alone."""


@pytest.fixture(scope="session")
def batch_run(targets, run_playbook, apps):
    """batch_run(key) runs the batch's cases in one ansible-playbook once and
    returns (run, before, after), the target's snapshots around it."""
    done = {}

    def run(key):
        if key not in done:
            members = BATCHES[key]
            done[key] = observed_run(targets, run_playbook, members[0].inventory,
                                     [value for case in members for value in expand(case.extra_vars, apps)])
        return done[key]

    return run


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in BAD])
def test_bad_input_is_refused_before_any_change(targets, run_playbook, apps, batch_run, case):
    batch = BATCH_OF.get(case.id)
    if batch:
        problems = refusal_problems(case, *batch_run(batch))
        if not problems:
            return
        summary = "; ".join(problem.splitlines()[0] for problem in problems)
        warnings.warn(BatchFallback(f"{case.id} ran alone: in the batch {batch!r}, {summary}"))
    # A run of its own: unbatched, or its batch did not show it refused.
    run, before, after = observed_run(targets, run_playbook, case.inventory, expand(case.extra_vars, apps),
                                      case.hooks)
    problems = refusal_problems(case, run, before, after)
    if problems:
        pytest.fail("\n".join([*problems, repr(run)]))


def test_unreachable_host_stops_every_host(targets, run_playbook):
    """One host cannot be reached: Ansible says so, and the reachable host is
    not provisioned either."""
    target = targets["vps13"]
    before = target.snapshot()
    run = run_playbook("unreachable")
    after = target.snapshot()
    assert_refused_before_changes(run)
    assert "UNREACHABLE!" in run.output, run
    assert "Connection refused" in run.output, run
    assert "unreachable=1" in run.output, run
    assert_unchanged(before, after, target.name)


def test_missing_sudo_is_ansibles_own_error(targets, run_playbook):
    """A login user without sudo rights: sudo's own refusal, no change."""
    target = targets["vps13"]
    before = target.snapshot()
    run = run_playbook("vps13", ["ansible_user=nobody"])
    after = target.snapshot()
    assert_refused_before_changes(run)
    assert "sudo: a password is required" in run.output, run
    assert_unchanged(before, after, target.name)


@pytest.mark.parametrize("with_data", ["with_data=maybe", ev(with_data=["true"])])
def test_a_rollback_s_with_data_that_is_not_a_boolean_is_refused_before_any_change(targets, run_playbook, with_data):
    """playbooks/rollback.yml's own input, refused by preflight's rollback
    entry point before the rollback takes the deploy lock."""
    target = targets["vps13"]
    before = target.snapshot()
    run = run_playbook("vps13", [with_data, "confirm=0123456789ab"], playbook="playbooks/rollback.yml")
    after = target.snapshot()
    assert_refused_before_changes(run)
    assert run.failed_task == "Check the rollback's inputs", run
    shown = '"maybe"' if with_data == "with_data=maybe" else '["true"]'
    assert f"with_data={shown} is not allowed: allowed is true or false" in run.output, run
    assert "Nothing was changed." in run.output, run
    assert_unchanged(before, after, target.name)


# Good input: the preflight play passes, reports no change, changes nothing.
GOOD = [
    ("debian-13-local-settings", "vps13", []),
    ("debian-12-docker-ce", "vps12", DOCKER_CE),
    ("debian-12-docker-ce-pinned", "vps12", [*DOCKER_CE, "docker_version=26.1.4"]),
    ("debian-13-docker-ce-full-version", "vps13",
     [*DOCKER_CE, "docker_version=5:26.1.5-1~debian.13~trixie"]),
    ("every-checked-variable-set", "vps13", [
        "@good_values",
    ]),
    ("acme-https", "vps13", [ev(**ACME)]),
    ("own-certificate-that-fits", "vps13", ["@tls_files=example.com www.example.com:site_key"]),
]


@pytest.mark.parametrize("inventory,extra_vars",
                         [pytest.param(*case[1:], id=case[0]) for case in GOOD])
def test_good_input_passes_preflight(targets, run_playbook, apps, inventory, extra_vars):
    if extra_vars == ["@good_values"]:
        extra_vars = [ev(
            app_wsgi_target="flaskapp:create_app()",
            app_src=str(REPO / "files" / "app"),
            app_http_port=8080,
            app_gunicorn_port=8001,
            sshd_port=2222,
            firewall_ssh_port=2222,  # the SSH port may be named twice
            firewall_allowed_tcp_ports=[8080, 443],
            app_server_name="example.com www.example.com *.example.org",
            app_memory_limit="512m",
            deploy_user_authorized_keys=[apps["public_key"], apps["public_key"]],
            preflight_min_free_disk_mb=1,
            base_sysctl_settings={"net.ipv4.conf.all.rp_filter": 2, "net/ipv4/tcp_syncookies": "1"},
            app_jobs=[{"name": "digest", "command": ["flask", "send-digest"], "on_calendar": "Mon..Fri *-*-* 03:00:00",
                       "time_limit": "1h30m"}],
            alerts_notify_url="https://ntfy.example.com/alerts",
            alerts_heartbeat_url="http://hc.example.com/ping/abc",
            alerts_check_interval="1h30m",
            alerts_disk_paths=["/var/backups"],
            alerts_disk_usage_percent=100,
            app_maintenance_allowed_addresses=["203.0.113.7", "10.0.0.0/8", "2001:db8::/32"],
            app_maintenance_retry_after=3600,
            app_release_maintenance=True,
            app_static_fallback_releases=4,
            app_error_pages_dir="pages/errors",
        )]
    extra_vars = expand(extra_vars, apps)
    target = targets[inventory]
    before = target.snapshot()
    run = run_playbook(inventory, extra_vars, playbook="playbooks/preflight.yml")
    after = target.snapshot()
    assert run.rc == 0, run
    assert "failed=0" in run.output and "changed=0" in run.output, run
    assert_unchanged(before, after, target.name)
