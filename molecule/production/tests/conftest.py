"""Shared helpers of the production scenario's tests.

The VPS is reached three ways, like in real life: over SSH with the test key
(as the deploy user), from the "internet" container on the VPS's network,
and through `docker exec` for root's view of its state.
"""

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from stack import recap, run_playbook

VPS = "production-vps"
INTERNET = "production-internet"
SITE = "flask-vps.test"
# Every name of app_server_name: the network's DNS points them at the VPS.
NAMES = [SITE, f"www.{SITE}"]
ACME = "https://acme:15000"
# In the internet container: the CA of pebble's API, and pebble's root, which
# issued the site's certificate (new at every pebble start).
ACME_API_CA = "/root/acme-api-ca.crt"
ACME_ROOT = "/root/acme-root.pem"
SSH_PORT = 18422
SCENARIO_DIR = Path(__file__).resolve().parents[1]
# The live release's app container, as a shell substitution for commands run
# on the VPS (a deploy removes the containers of earlier releases).
LIVE_APP = "$(docker ps -aq --filter label=flask-vps.app=flaskapp)"


@pytest.fixture(scope="session")
def vps():
    return testinfra.get_host(f"docker://{VPS}")


@pytest.fixture(scope="session")
def internet():
    return testinfra.get_host(f"docker://{INTERNET}")


@pytest.fixture(scope="session", autouse=True)
def acme_root(internet, ephemeral_dir):
    """pebble's root certificate, fetched by the client like a browser's trust store holds Let's Encrypt's."""
    subprocess.run(["docker", "cp", str(ephemeral_dir / "acme-api-ca.crt"), f"{INTERNET}:{ACME_API_CA}"], check=True)
    internet.check_output(f"curl -sS -m 10 --cacert {ACME_API_CA} -o {ACME_ROOT} {ACME}/roots/0")
    return ACME_ROOT


@pytest.fixture(scope="session")
def ephemeral_dir():
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])


@pytest.fixture(scope="session")
def ssh_key(ephemeral_dir):
    return ephemeral_dir / "id_ed25519"


@pytest.fixture(scope="session")
def secret_key():
    """The vaulted SECRET_KEY, decrypted with the scenario's test password."""
    out = subprocess.run(
        [
            "ansible-vault", "view",
            "--vault-password-file", str(SCENARIO_DIR / "vault-password"),
            str(SCENARIO_DIR / "host_vars" / VPS / "vault.yml"),
        ],
        check=True, capture_output=True, text=True,
    ).stdout
    value = yaml.safe_load(out)["vault_app_secret_key"]
    assert len(value) >= 32
    return value


def ssh(key, user, command, port=SSH_PORT):
    """Log in from the controller with the test key, as a user would."""
    return subprocess.run(
        [
            "ssh", "-i", str(key), "-p", str(port),
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
            f"{user}@127.0.0.1", command,
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )


def curl(internet, path="/", host=SITE, args="", scheme="https"):
    """curl from the internet, to https://<host> (trusting the test CA) or to
    http://<the VPS> with that Host; returns (curl exit code, status, headers)."""
    url = f"--cacert {ACME_ROOT} 'https://{host}{path}'" if scheme == "https" else f"-H 'Host: {host}' 'http://{VPS}{path}'"
    result = internet.run(f"curl -sS -m 10 -o /dev/null -D - {args} {url}")
    lines = result.stdout.replace("\r", "").splitlines()
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else None
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return result.rc, status, headers


def tcp_open(internet, port, target=VPS):
    return internet.run(f"timeout 3 bash -c 'exec 3<>/dev/tcp/{target}/{port}'").rc == 0


def wait_serving(internet, since, timeout=60):
    """Seconds from `since` until the site answers 200 through nginx."""
    while time.monotonic() - since < timeout:
        _, status, _ = curl(internet, "/healthz", args="-m 3")
        if status == 200:
            return time.monotonic() - since
        time.sleep(1)
    pytest.fail(f"the site did not serve again within {timeout} s")


def inspect(vps, name):
    return json.loads(vps.check_output(f"docker inspect {name}"))[0]


def deploy(**extra_vars):
    """The app part of site.yml with these settings over the inventory's."""
    rc, output = run_playbook("site.yml", extra_vars=extra_vars, args=["--tags", "app"])
    assert rc == 0, output[-3000:]
    return recap(output)


def write_note(internet, text):
    """POST a note through the site, as a browser would; returns its id."""
    body = json.dumps({"text": text})
    out = internet.check_output(
        f"curl -sS -m 10 --fail-with-body --cacert {ACME_ROOT} -H 'Content-Type: application/json'"
        f" --data-raw {shlex.quote(body)} https://{SITE}/api/notes"
    )
    return json.loads(out)["id"]


def read_note(internet, note_id):
    out = internet.check_output(f"curl -sS -m 10 --cacert {ACME_ROOT} https://{SITE}/api/notes/{note_id}")
    return json.loads(out).get("text")


def rows(vps):
    """The notes table as PostgreSQL has it."""
    return vps.check_output("docker exec flaskapp-postgres psql -tA -U app -d app -c 'SELECT id, text FROM notes ORDER BY id'")
