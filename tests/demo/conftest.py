"""One demo for the whole suite: `make demo` from nothing (test_demo.py),
then a user's own playbook with the built collection (test_user_playbook.py,
which runs after it and deploys another version of the app)."""

import shutil

import pytest

from demo_vps import CHECKOUT, copy_checkout, demo, engine, images


@pytest.fixture(scope="session")
def docker_host():
    """The empty engine, made anew (a killed run may have left one)."""
    host = engine("up")
    try:
        yield host
    finally:
        engine("down")
        shutil.rmtree(CHECKOUT, ignore_errors=True)


@pytest.fixture(scope="session")
def first_run(docker_host):
    copy_checkout()
    assert images(docker_host) == []
    return demo(docker_host, ["make", "--no-print-directory", "demo"])
