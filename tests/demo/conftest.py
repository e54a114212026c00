"""One demo VPS for the whole suite: `make demo` from nothing (test_demo.py),
then a user's own playbook with the built collection (test_user_playbook.py,
which runs after it and deploys another version of the app)."""

import pytest

from demo_vps import demo


@pytest.fixture(scope="session")
def first_run():
    demo("down")  # left over from a killed run
    try:
        yield demo("up")
    finally:
        demo("down")
