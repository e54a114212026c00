import subprocess
import sys
from pathlib import Path

import pytest
import testinfra

# Helpers shared by the scenarios and the benchmark.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

from fleet import CAFILE, EPHEMERAL, INTERNET


@pytest.fixture(scope="session")
def internet():
    return testinfra.get_host("docker://fleet-internet")


@pytest.fixture(scope="session")
def lb():
    return testinfra.get_host("docker://fleet-lb")


@pytest.fixture(scope="session")
def web():
    return [testinfra.get_host(f"docker://fleet-web{n}") for n in (1, 2)]


@pytest.fixture(scope="session")
def db():
    return testinfra.get_host("docker://fleet-db")


@pytest.fixture(scope="session", autouse=True)
def acme_root(internet):
    """pebble's root in the internet container, fetched over pebble's API
    (the site's certificate chains to it, as a browser trusts its CA's)."""
    subprocess.run(["docker", "cp", str(EPHEMERAL / "acme-api-ca.crt"), f"{INTERNET}:/root/acme-api-ca.crt"],
                   check=True)
    internet.check_output(f"curl -sS -m 10 --cacert /root/acme-api-ca.crt -o {CAFILE} https://acme:15000/roots/0")
