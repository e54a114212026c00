"""Who holds the deploy lock, seen from the controller. Filters run on the
controller, so they can tell whether a lock's holder on this machine is still
running. Unit tests: tests/unit/test_deploy_lock.py."""

import datetime
import getpass
import os
import socket
import uuid


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _parent(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def ansible_playbook_pid(start=None):
    """The ansible-playbook process this code runs under. Templating happens
    in its workers, forked from it with the same command line and gone after
    each task, so this is the outermost of the ansible-playbook processes
    above us; the parent process where /proc is missing."""
    pid, found = start or os.getpid(), 0
    while pid > 1:
        if "ansible-playbook" in _cmdline(pid):
            found = pid
        elif found:
            break
        pid = _parent(pid)
    return found or os.getppid()


def lock_holder(play):
    """This run, as the lock records it."""
    now = datetime.datetime.now(datetime.UTC)
    return {
        "user": getpass.getuser(),
        "controller": socket.gethostname(),
        "pid": ansible_playbook_pid(),
        "play": str(play),
        "since": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "token": uuid.uuid4().hex,
    }


def lock_gone(holder):
    """The token of a holder that ran on this controller and whose
    ansible-playbook process is gone; "" when it may still run (or ran
    elsewhere, which only its age can tell)."""
    if not isinstance(holder, dict) or holder.get("controller") != socket.gethostname():
        return ""
    if "ansible-playbook" in _cmdline(holder.get("pid", 0)):
        return ""
    return holder.get("token", "")


class FilterModule:
    def filters(self):
        return {"app_lock_holder": lock_holder, "app_lock_gone": lock_gone}
