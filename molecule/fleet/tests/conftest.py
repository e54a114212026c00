import sys
from pathlib import Path

import pytest
import testinfra

# Helpers shared by the scenarios and the benchmark.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))


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
