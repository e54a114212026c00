"""Who holds the deploy lock, seen from the controller. Filters run on the
controller, so they can tell whether a lock's holder on this machine is still
running. Unit tests: tests/unit/test_deploy_lock.py.

A holder is on this machine when the machine, its boot and its PID namespace
are this controller's: a host name is not enough (CI containers often share
a fixed one), nor is a machine id (containers of one image can share it, and
containers on one host share the boot). It is still running when its process,
by pid and start time, is: a pid alone may have been given to another process
since.
"""

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


def _stat(pid):
    """The fields of /proc/<pid>/stat after the command name (state first), or []."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _parent(pid):
    try:
        return int(_stat(pid)[1])
    except (ValueError, IndexError):
        return 0


def _start_time(pid):
    """When the process started, in clock ticks since boot; None if unknown."""
    try:
        return int(_stat(pid)[19])
    except (ValueError, IndexError):
        return None


def _running(pid, start):
    """Whether that process, not another one given its pid since, still runs."""
    stat = _stat(pid)
    return len(stat) > 19 and stat[0] != "Z" and stat[19] == str(start)


def _first_line(*paths):
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                line = handle.readline().strip()
        except OSError:
            continue
        if line:
            return line
    return ""


def _this_machine():
    """What a holder must share with this controller for its pid to be one
    this controller can look up (see the docstring)."""
    boot = _first_line("/proc/sys/kernel/random/boot_id")
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return {
        "machine_id": _first_line("/etc/machine-id", "/var/lib/dbus/machine-id") or boot,
        "boot_id": boot,
        "pid_namespace": namespace,
    }


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
    pid = ansible_playbook_pid()
    return {
        "user": getpass.getuser(),
        "controller": socket.gethostname(),
        "pid": pid,
        "pid_start": _start_time(pid),
        **_this_machine(),
        "play": str(play),
        "since": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "token": uuid.uuid4().hex,
    }


def lock_gone(holder):
    """The token of a holder that ran on this controller and whose
    ansible-playbook process is gone; "" when it may still run (or ran
    elsewhere, which only its age can tell)."""
    if not isinstance(holder, dict) or holder.get("pid_start") is None:
        return ""
    here = _this_machine()
    if not all(here.values()) or any(holder.get(key) != value for key, value in here.items()):
        return ""
    if _running(holder.get("pid", 0), holder["pid_start"]):
        return ""
    return holder.get("token", "")


class FilterModule:
    def filters(self):
        return {"deploy_lock_holder": lock_holder, "deploy_lock_gone": lock_gone}
