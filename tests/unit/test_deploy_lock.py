"""The deploy lock module and its controller-side filters, on local paths."""

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROLE = Path(__file__).resolve().parents[2] / "roles" / "app"
MODULE = ROLE / "library" / "deploy_lock.py"
spec = importlib.util.spec_from_file_location("deploy_lock_filters", ROLE / "filter_plugins" / "deploy_lock.py")
filters = importlib.util.module_from_spec(spec)
spec.loader.exec_module(filters)


def lock(path, token, **params):
    holder = {"user": "u", "controller": "c", "play": "Deploy", "pid": 1, "since": "now", "token": token}
    args = {"ANSIBLE_MODULE_ARGS": {"path": str(path), "holder": holder, **params}}
    done = subprocess.run([sys.executable, str(MODULE)], input=json.dumps(args),
                          capture_output=True, text=True, check=False)
    return json.loads(done.stdout)


def test_a_held_lock_makes_the_next_run_wait_then_fail_naming_the_holder(tmp_path):
    path = tmp_path / "deploy.lock"
    assert lock(path, "first")["changed"]
    assert not lock(path, "first")["changed"]  # the holder takes it again
    started = time.monotonic()
    refused = lock(path, "second", timeout=2)
    assert refused["failed"]
    assert time.monotonic() - started >= 2
    assert "The stack is locked by u@c running 'Deploy' (process 1) since now" in refused["msg"]
    assert "playbooks/unlock.yml" in refused["msg"]


def test_only_the_holder_releases_unless_forced(tmp_path):
    path = tmp_path / "deploy.lock"
    lock(path, "first")
    assert not lock(path, "other", state="absent")["changed"]
    assert path.is_dir()
    assert lock(path, "first", state="absent")["changed"]
    assert not path.exists()
    lock(path, "first")
    assert lock(path, "other", state="absent", force=True)["changed"]
    assert not path.exists()


def test_a_lock_left_by_a_gone_run_or_too_old_is_taken_over_with_a_warning(tmp_path):
    path = tmp_path / "deploy.lock"
    lock(path, "killed")
    taken = lock(path, "next", stale_token="killed", timeout=0)
    assert taken["changed"] and "that run is gone" in json.dumps(taken["warnings"])
    time.sleep(1.1)
    aged = lock(path, "later", max_age=1, timeout=0)
    assert aged["changed"] and "held for" in json.dumps(aged["warnings"])
    # A token that is not the holder's takes over nothing.
    assert lock(path, "another", stale_token="killed", timeout=0)["failed"]


def test_holder_and_gone_on_this_controller():
    holder = filters.lock_holder("Deploy the Flask stack")
    assert holder["controller"] == socket.gethostname()
    assert holder["play"] == "Deploy the Flask stack" and len(holder["token"]) == 32
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert filters.lock_gone({**holder, "pid": dead.pid}) == holder["token"]
    # Alive, but not an ansible-playbook process (the pid was reused): gone too.
    assert filters.lock_gone({**holder, "pid": 1}) == holder["token"]
    # Held on another machine: only its age can tell.
    assert filters.lock_gone({**holder, "controller": "elsewhere", "pid": dead.pid}) == ""
    assert filters.lock_gone({}) == ""


def test_a_run_records_its_own_process_not_a_short_lived_worker(tmp_path):
    """The holder's pid must be the ansible-playbook process itself: a
    worker's pid is gone after the task, and another run would then take the
    lock over while this one still deploys."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.set_fact:\n        holder: \"{{ 'Deploy' | app_lock_holder }}\"\n"
        "    - ansible.builtin.debug:\n        msg: \"pid={{ holder.pid }}\"\n")
    run = subprocess.Popen(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
        env={**os.environ, "ANSIBLE_FILTER_PLUGINS": str(ROLE / "filter_plugins")},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 0, output
    assert f"pid={run.pid}" in output, output
