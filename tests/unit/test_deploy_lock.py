"""The deploy lock module and its controller-side filters, on local paths."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ansible_collections.flask_vps.stack.plugins.filter import deploy_lock as filters
from ansible_collections.flask_vps.stack.plugins.modules import deploy_lock as module

MODULE = module.__file__






@pytest.fixture(autouse=True)
def release_left_locks(tmp_path):
    """A lock a test leaves behind is released, which stops its heartbeat."""
    yield
    for left in tmp_path.glob("*.lock"):
        lock(left, "", state="absent", force=True)


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
    refused = lock(path, "second", timeout=2, timeout_variable="app_lock_timeout")
    assert refused["failed"]
    assert time.monotonic() - started >= 2
    assert "The stack is locked by u@c running 'Deploy' (process 1) since now" in refused["msg"]
    assert "Waited 2 s (app_lock_timeout)" in refused["msg"]
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
    assert filters.lock_gone({**holder, "controller": "elsewhere", "machine_id": "elsewhere", "pid": dead.pid}) == ""
    assert filters.lock_gone({}) == ""


def test_a_run_records_its_own_process_not_a_short_lived_worker(tmp_path):
    """The holder's pid must be the ansible-playbook process itself: a
    worker's pid is gone after the task, and another run would then take the
    lock over while this one still deploys."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.set_fact:\n        holder: \"{{ 'Deploy' | flask_vps.stack.deploy_lock_holder }}\"\n"
        "    - ansible.builtin.debug:\n        msg: \"pid={{ holder.pid }}\"\n")
    run = subprocess.Popen(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)],
        env=os.environ,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 0, output
    assert f"pid={run.pid}" in output, output


def start_time(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def test_a_controller_with_the_same_host_name_does_not_count_as_this_one():
    """CI containers with one fixed host name: each took the other's live lock
    for abandoned, because "gone" was this host name and no ansible-playbook
    process with that pid here. Gone now needs this machine, and the holder's
    process, by pid and start time, not running on it."""
    holder = filters.lock_holder("Deploy")
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert filters.lock_gone({**holder, "machine_id": "another-machine", "pid": dead.pid}) == ""
    assert filters.lock_gone({**holder, "pid": dead.pid}) == holder["token"]
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "ansible-playbook"])
    try:
        assert filters.lock_gone({**holder, "pid": other.pid, "pid_start": start_time(other.pid)}) == ""
        # The holder's pid, now another ansible-playbook's: the holder is gone.
        assert filters.lock_gone({**holder, "pid": other.pid, "pid_start": start_time(other.pid) - 1}) == holder["token"]
    finally:
        other.kill()
        other.wait()


class Refused(Exception):
    pass


class Run:
    """One run's call of the module, made in this process so that two runs
    can be interleaved step by step."""

    def __init__(self, token, **params):
        self.params = {"timeout": 0, "timeout_variable": "timeout", "max_age": 7200, "stale_token": "", "force": False, **params}
        self.holder = {"user": "u", "controller": "c", "play": "Deploy", "pid": 1, "since": "now",
                       "token": token, "since_epoch": time.time()}

    def fail_json(self, msg, **_):
        raise Refused(msg)

    def take(self, path):
        return module.take(self, str(path), dict(self.holder))


def test_two_runs_taking_over_one_left_lock_do_not_both_get_it(tmp_path, monkeypatch):
    """Run B reads the lock a killed run left, and before B removes it run C
    takes it over. B then removed C's fresh lock and took it too: two
    deploys at once. B must see that the lock is no longer the one it judged,
    and wait."""
    path = tmp_path / "deploy.lock"
    assert module.try_take(str(path), Run("killed").holder)
    read = module.read_holder
    c_ran = []

    def read_then_let_c_take_over(where):
        current = read(where)
        if current and current["token"] == "killed" and not c_ran:
            c_ran.append(None)
            c_ran[0] = Run("c", stale_token="killed").take(path)
        return current

    monkeypatch.setattr(module, "read_holder", read_then_let_c_take_over)
    with pytest.raises(Refused, match="The stack is locked by"):
        Run("b", stale_token="killed").take(path)
    assert c_ran and c_ran[0]["changed"]
    assert read(str(path))["token"] == "c"


def test_removing_a_lock_that_is_not_the_one_judged_puts_it_back(tmp_path):
    path = tmp_path / "deploy.lock"
    assert module.try_take(str(path), Run("fresh").holder)
    assert not module.remove(str(path), "killed")
    assert module.read_holder(str(path))["token"] == "fresh"
    assert not list(tmp_path.glob("deploy.lock.*-*"))


def test_a_run_that_holds_the_lock_longer_than_max_age_keeps_it_while_it_runs(tmp_path):
    """A restore staging a big snapshot for longer than app_lock_max_age in
    one task: a deploy took its lock over by age while it still ran. Age now
    counts from the heartbeat, which runs as long as the run does (here this
    test, above the module's process)."""
    path = tmp_path / "deploy.lock"
    assert lock(path, "restore", max_age=2)["changed"]
    time.sleep(3)
    refused = lock(path, "deploy", max_age=2, timeout=0)
    assert refused.get("failed"), refused
    assert "The stack is locked by" in refused["msg"]


def wait_for(predicate, seconds=5):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_heartbeat_stops_with_the_run_and_the_lock_ages_out(tmp_path):
    """A killed run: its processes on the VPS end with its connection, the
    heartbeat stops, and the lock is taken over max_age later."""
    path = tmp_path / "deploy.lock"
    run = subprocess.Popen(["sleep", "60"])  # the run's process on the VPS
    assert module.try_take(str(path), Run("killed").holder)
    module.start_keeper(str(path), "killed", 0.2, [(run.pid, start_time(run.pid))])
    wait_for(lambda: module.keeper_of(str(path)))
    keeper = module.keeper_of(str(path))
    time.sleep(1.5)
    assert lock(path, "next", max_age=1, timeout=0).get("failed")
    run.kill()
    run.wait()
    wait_for(lambda: not module.running(*keeper))
    time.sleep(1.1)
    taken = lock(path, "next", max_age=1, timeout=0)
    assert taken["changed"] and "without a heartbeat" in json.dumps(taken["warnings"]), taken


def test_the_heartbeat_stops_when_the_lock_is_released_or_taken_over(tmp_path):
    path = tmp_path / "deploy.lock"
    lock(path, "first")
    wait_for(lambda: module.keeper_of(str(path)))
    keeper = module.keeper_of(str(path))
    assert lock(path, "first", state="absent")["changed"]
    wait_for(lambda: not module.running(*keeper))
    lock(path, "second")
    wait_for(lambda: module.keeper_of(str(path)))
    keeper = module.keeper_of(str(path))
    assert lock(path, "third", stale_token="second", timeout=0)["changed"]
    wait_for(lambda: not module.running(*keeper))
    assert module.keeper_of(str(path)) != keeper


def test_taking_the_lock_again_with_its_token_refreshes_its_heartbeat(tmp_path):
    path = tmp_path / "deploy.lock"
    lock(path, "first")
    heartbeat = path / "heartbeat"
    os.utime(heartbeat, (0, 0))
    assert not lock(path, "first")["changed"]
    assert time.time() - heartbeat.stat().st_mtime < 60
