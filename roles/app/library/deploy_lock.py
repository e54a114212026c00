#!/usr/bin/python
"""The deploy lock on the VPS.

A run that changes the stack holds it from start to end, so two runs (two
people, or a person and a CI job) never interleave their releases. The lock
is a directory, created atomically, holding who took it. A second run waits
up to `timeout` seconds, then fails naming the holder. A lock whose holder
is known to be gone (`stale_token`, decided on the controller) or older than
`max_age` is taken over with a warning.
"""

import json
import os
import shutil
import time

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
    description: C(present) takes the lock (waiting for it), C(absent) releases it.
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
  max_age:
    description: Seconds after which a held lock counts as left behind.
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


def read_holder(path):
    try:
        with open(os.path.join(path, HOLDER), encoding="utf-8") as handle:
            return json.load(handle)
    except (FileNotFoundError, ValueError):
        return None


def describe(holder):
    if not holder:
        return "a run that left no details"
    return (f"{holder.get('user', '?')}@{holder.get('controller', '?')} running "
            f"'{holder.get('play', '?')}' (process {holder.get('pid', '?')}) since {holder.get('since', '?')}")


def try_take(path, holder):
    """Create the lock directory (atomic: fails if it exists), then its
    holder file (written beside and renamed)."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return False
    tmp = os.path.join(path, HOLDER + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(holder, handle)
    os.replace(tmp, os.path.join(path, HOLDER))
    return True


def take(module, path, holder):
    params = module.params
    deadline = time.monotonic() + params["timeout"]
    warnings = []
    while True:
        current = read_holder(path)
        if current and current.get("token") == holder["token"]:
            return {"changed": False, "holder": current, "warnings": warnings}
        if os.path.isdir(path):
            # No holder file yet: another run is between mkdir and writing it.
            age = time.time() - (current or {}).get("since_epoch", os.path.getmtime(path))
            gone = current and params["stale_token"] and current.get("token") == params["stale_token"]
            if gone or age > params["max_age"]:
                warnings.append(f"Took over the deploy lock left by {describe(current)}: "
                                + ("that run is gone." if gone else f"held for {int(age)} s."))
                shutil.rmtree(path, ignore_errors=True)
                continue
        elif try_take(path, holder):
            return {"changed": True, "holder": holder, "warnings": warnings}
        else:
            continue  # another run took it first: read its holder
        if time.monotonic() >= deadline:
            module.fail_json(
                msg=f"The stack is locked by {describe(current)}. Waited {params['timeout']} s "
                    f"(app_lock_timeout). If that run is over, release the lock with "
                    f"playbooks/unlock.yml.", holder=current)
        time.sleep(2)


def release(module, path, holder):
    current = read_holder(path)
    if not os.path.isdir(path):
        return {"changed": False, "holder": None}
    if module.params["force"] or (current and current.get("token") == holder["token"]):
        shutil.rmtree(path)
        return {"changed": True, "holder": current}
    return {"changed": False, "holder": current}


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "holder": {"type": "dict", "required": True},
            "timeout": {"type": "int", "default": 300},
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
    else:
        result = release(module, path, holder)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
