#!/usr/bin/python
"""The deploy lock on the VPS.

A run that changes the stack holds it from start to end, so two runs (two
people, or a person and a CI job) never interleave their releases. The lock
is a directory, created atomically, holding who took it (holder.json) and a
heartbeat file. A second run waits up to `timeout` seconds, then fails
naming the holder. A lock is taken over with a warning when its holder is
known to be gone (`stale_token`, decided on the controller, which can see
its processes) or when its heartbeat is older than `max_age`.

Age is time without a heartbeat, not time held: a restore that stages a
snapshot for hours in one task keeps its lock. Taking the lock starts a
keeper on the VPS (forked twice, in a session of its own) that touches the
heartbeat every max_age/4 s, at most 60 s, for as long as the lock holds
this run's token and one of the run's processes here is alive: the module's
own and those above it up to the connection, that is sshd's session of the
controller's SSH connection (kept for the whole run by ControlPersist) or
Mitogen's interpreter, which both end when the controller's run does; with
a local connection, ansible-playbook itself. Services started by init (sshd's
listener) serve every run and do not count. So a killed run's keeper stops
when its connection closes and its lock is taken over max_age later (by a
run from the same controller at once); without a lasting connection the
heartbeat stops with this task and age counts from here. Releasing or taking
over the lock stops its keeper. Calling the module again with the holder's
token refreshes the heartbeat, and starts a keeper if none runs.

A lock is removed (released or taken over) only under an flock on
`<path>.guard` and after being read again there, so that two runs never
both take over one left lock: without it, a run could remove the fresh lock
another run had just taken over in its place. It is renamed aside before it
is deleted, so that it vanishes at once, and put back if the renamed copy is
not the one judged.
"""

import contextlib
import fcntl
import glob
import json
import os
import shutil
import signal
import time
import uuid
from warnings import catch_warnings, simplefilter

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: deploy_lock
short_description: Take or release the deploy lock of a stack
options:
  path:
    description: The lock directory.
    type: path
    required: true
  state:
    description: >-
      C(present) takes the lock (waiting for it), or refreshes it when this holder has it;
      C(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  holder:
    description: Who takes it (controller user and host, playbook, process), with a unique C(token).
    type: dict
    required: true
  timeout:
    description: Seconds to wait for a lock held by another run.
    type: int
    default: 300
  timeout_variable:
    description: The setting that gives C(timeout), named when waiting for the lock fails.
    type: str
    default: timeout
  max_age:
    description: Seconds without a heartbeat after which a held lock counts as left behind.
    type: int
    default: 7200
  stale_token:
    description: Token of a holder known to be gone; its lock is taken over.
    type: str
    default: ""
  force:
    description: With C(state=absent), release the lock whoever holds it.
    type: bool
    default: false
"""

HOLDER = "holder.json"
HEARTBEAT = "heartbeat"


def read_holder(path):
    try:
        with open(os.path.join(path, HOLDER), encoding="utf-8") as handle:
            return json.load(handle)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def describe(holder):
    if not holder:
        return "a run that left no details"
    return (f"{holder.get('user', '?')}@{holder.get('controller', '?')} running "
            f"'{holder.get('play', '?')}' (process {holder.get('pid', '?')}) since {holder.get('since', '?')}")


def try_take(path, holder):
    """Create the lock directory (atomic: fails if it exists), then its
    heartbeat and its holder file (written beside and renamed)."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return False
    with open(os.path.join(path, HEARTBEAT), "w", encoding="utf-8"):
        pass
    tmp = os.path.join(path, HOLDER + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(holder, handle)
    os.replace(tmp, os.path.join(path, HOLDER))
    return True


def last_sign_of_life(path, holder):
    """When the holder last showed it still runs: its heartbeat; for a lock
    without one (left by an older version, or by hand) when it was taken."""
    with contextlib.suppress(FileNotFoundError):
        return os.path.getmtime(os.path.join(path, HEARTBEAT))
    if holder and "since_epoch" in holder:
        return holder["since_epoch"]
    try:
        return os.path.getmtime(path)
    except FileNotFoundError:
        return time.time()


def left_behind(path, holder, params):
    """Why the lock at `path` may be taken over; "" while its holder may still run."""
    if holder and params["stale_token"] and holder.get("token") == params["stale_token"]:
        return "that run is gone."
    now = time.time()
    silent = now - last_sign_of_life(path, holder)
    if silent <= params["max_age"]:
        return ""
    held = now - (holder or {}).get("since_epoch", now - silent)
    return f"held for {int(held)} s, the last {int(silent)} s without a heartbeat."


@contextlib.contextmanager
def guard(path):
    """Held while a lock is read again and removed (see the docstring).
    Released by the kernel if this process dies."""
    fd = os.open(path + ".guard", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # Copies renamed aside are deleted under the guard: one still here
        # was left by a run that died deleting it.
        for left in glob.glob(glob.escape(path) + ".gone-*"):
            shutil.rmtree(left, ignore_errors=True)
        yield
    finally:
        os.close(fd)


def remove(path, token):
    """Remove the lock if it holds `token`, under the guard: rename it aside,
    read the renamed copy, and put it back if it is not the lock judged."""
    aside = f"{path}.gone-{uuid.uuid4().hex}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    if (read_holder(aside) or {}).get("token") != token:
        os.rename(aside, path)
        return False
    stop_keeper(aside)
    shutil.rmtree(aside, ignore_errors=True)
    return True


def take_over(path, params):
    """The holder removed and why, when the lock is still left behind looked
    at again under the guard; None when it is not (any more)."""
    with guard(path):
        current = read_holder(path)
        reason = os.path.isdir(path) and left_behind(path, current, params)
        if reason and remove(path, (current or {}).get("token")):
            return current, reason
    return None


def refresh(path, token):
    """Touch the heartbeat if the lock still holds `token`."""
    with guard(path):
        if (read_holder(path) or {}).get("token") != token:
            return False
        heartbeat = os.path.join(path, HEARTBEAT)
        with open(heartbeat, "a", encoding="utf-8"):
            pass
        os.utime(heartbeat)
    return True


def take(module, path, holder):
    params = module.params
    deadline = time.monotonic() + params["timeout"]
    warnings = []
    while True:
        current = read_holder(path)
        if current and current.get("token") == holder["token"]:
            if refresh(path, holder["token"]):
                return {"changed": False, "holder": current, "warnings": warnings}
            continue
        if not os.path.isdir(path):
            if try_take(path, holder):
                return {"changed": True, "holder": holder, "warnings": warnings}
            continue  # another run took it first: read its holder
        # Held by another run (no holder file yet while it writes one). Judged
        # first without the guard, so that waiting does not take it.
        taken_over = left_behind(path, current, params) and take_over(path, params)
        if taken_over:
            warnings.append(f"Took over the deploy lock left by {describe(taken_over[0])}: {taken_over[1]}")
            continue
        if time.monotonic() >= deadline:
            module.fail_json(
                msg=f"The stack is locked by {describe(current)}. Waited {params['timeout']} s "
                    f"({params['timeout_variable']}). If that run is over, release the lock with "
                    f"playbooks/unlock.yml.", holder=current)
        time.sleep(2)


def release(module, path, holder):
    if not os.path.isdir(path):
        return {"changed": False, "holder": None}
    with guard(path):
        current = read_holder(path)
        if not os.path.isdir(path):
            return {"changed": False, "holder": None}
        mine = current and current.get("token") == holder["token"]
        if (module.params["force"] or mine) and remove(path, (current or {}).get("token")):
            return {"changed": True, "holder": current}
    return {"changed": False, "holder": current}


def process_stat(pid):
    """(state, parent pid, start time in clock ticks since boot) of a process, or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return fields[0], int(fields[1]), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def running(pid, start):
    """Whether that process, not another one given its pid since, still runs."""
    stat = process_stat(pid)
    return bool(stat) and stat[0] != "Z" and stat[2] == start


def is_playbook(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"ansible-playbook" in handle.read()
    except OSError:
        return False


def run_processes(pid):
    """This run's processes on this host, as (pid, start time): `pid` and
    those above it up to the connection's (see the docstring)."""
    found = []
    stat = process_stat(pid)
    while stat:
        found.append((pid, stat[2]))
        if is_playbook(pid) and not is_playbook(stat[1]):
            break
        pid, stat = stat[1], process_stat(stat[1])
        if not stat or stat[1] <= 1:
            break  # init, or a service it started: it outlives the run
    return found


def heartbeat_interval(max_age):
    """Often enough that a live holder's heartbeat is never near max_age old."""
    return max(0.1, min(60.0, max_age / 4))


def keeper_of(path):
    """The running keeper of the lock at `path`, as (pid, start time), or None."""
    try:
        with open(os.path.join(path, HEARTBEAT), encoding="utf-8") as handle:
            pid, start = (int(word) for word in handle.read().split())
    except (OSError, ValueError):
        return None
    return (pid, start) if running(pid, start) else None


def stop_keeper(path):
    keeper = keeper_of(path)
    if keeper:
        with contextlib.suppress(OSError):
            os.kill(keeper[0], signal.SIGTERM)


def keep_fresh(path, token, interval, run):
    """The keeper: touch the heartbeat of this lock directory (the one at
    `path` now, not a later one) every `interval` s while it holds `token`
    and a process of `run` lives. It writes who it is into the heartbeat,
    for release and take-over to stop it."""
    lock = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    directory = os.fstat(lock).st_ino
    me = os.open(HEARTBEAT, os.O_WRONLY | os.O_TRUNC, dir_fd=lock)
    os.write(me, f"{os.getpid()} {process_stat(os.getpid())[2]}\n".encode())
    os.close(me)
    while True:
        time.sleep(interval)
        try:
            if os.stat(path).st_ino != directory or (read_holder(path) or {}).get("token") != token:
                return
        except FileNotFoundError:
            return
        if not any(running(*process) for process in run):
            return
        os.utime(HEARTBEAT, dir_fd=lock)


def start_keeper(path, token, interval, run):
    """Run keep_fresh in a process that outlives this module: forked twice,
    so that this process (under Mitogen, the run's interpreter) need not reap
    it, in a session of its own, with none of the run's files open (an open
    pipe of the connection would hold the task open until it ends)."""
    # Python warns of fork() in a process with threads (Mitogen's): a lock
    # another thread holds stays locked in the child. The keeper takes none:
    # it only calls the OS and reads small files, and never returns here.
    with catch_warnings():
        simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child:
        with contextlib.suppress(ChildProcessError):  # reaped already where SIGCHLD is ignored
            os.waitpid(child, 0)
        return
    try:
        os.setsid()
        if os.fork() == 0:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            os.chdir("/")
            keep_fresh(path, token, interval, run)
    finally:
        os._exit(0)


def keep_alive(path, token, max_age):
    if not keeper_of(path):
        start_keeper(path, token, heartbeat_interval(max_age), run_processes(os.getpid()))


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "holder": {"type": "dict", "required": True},
            "timeout": {"type": "int", "default": 300},
            "timeout_variable": {"type": "str", "default": "timeout"},
            "max_age": {"type": "int", "default": 7200},
            "stale_token": {"type": "str", "default": ""},
            "force": {"type": "bool", "default": False},
        },
        supports_check_mode=False,
    )
    path = module.params["path"]
    holder = dict(module.params["holder"], since_epoch=time.time())
    if module.params["state"] == "present":
        result = take(module, path, holder)
        keep_alive(path, holder["token"], module.params["max_age"])
    else:
        result = release(module, path, holder)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
