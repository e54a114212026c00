#!/usr/bin/python
"""Append an entry to the stack's deploy ledger: one JSON line per deploy,
rollback or restore that changed something or failed, with the names of
the settings and secrets that changed since the last good deploy, never
their values.

What was deployed last is kept as a fingerprint beside the ledger (each
setting's and secret's name with a SHA-256 of its value), root's alone like
the secrets themselves, so the next deploy can name what it changes.
"""

import datetime
import json
import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: app_ledger
short_description: Append an entry to the stack's deploy ledger
options:
  path:
    description: The ledger, a file of JSON lines.
    type: path
    required: true
  entry:
    description: The entry (action, result, release, ...); the time is added.
    type: dict
    required: true
  fingerprint:
    description: >-
      Name -> hash of each setting and secret of the release deployed; the
      entry gets the names that differ from the last good deploy's.
    type: dict
  fingerprint_path:
    description: Where the last good deploy's fingerprint is kept (root's alone).
    type: path
  image:
    description: The release's image; the entry gets its id.
    type: str
"""

RETURN = r"""
entry:
  description: The entry appended, as written.
  type: dict
"""


def changed_names(old, new):
    """The names whose value differs, was added or went; every name on a
    first deploy."""
    return sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))


def read_json(path, default):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return default


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "entry": {"type": "dict", "required": True},
            "fingerprint": {"type": "dict", "no_log": True},
            "fingerprint_path": {"type": "path"},
            "image": {"type": "str"},
        },
        required_by={"fingerprint": "fingerprint_path"},
        supports_check_mode=True,
    )
    params = module.params
    entry = {"time": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **params["entry"]}
    if params["image"]:
        rc, out, _ = module.run_command(["docker", "image", "inspect", "--format", "{{.Id}}", params["image"]])
        entry["image"] = out.strip() if rc == 0 else None
    if params["fingerprint"] is not None:
        entry["changed"] = changed_names(read_json(params["fingerprint_path"], {}), params["fingerprint"])
    if module.check_mode:
        module.exit_json(changed=True, entry=entry)
    if params["fingerprint"] is not None and entry.get("result") == "ok":
        new = params["fingerprint_path"] + ".new"
        with open(os.open(new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            json.dump(params["fingerprint"], handle, sort_keys=True)
        os.replace(new, params["fingerprint_path"])
    with open(os.open(params["path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640), "a") as ledger:
        ledger.write(json.dumps(entry, sort_keys=True) + "\n")
    module.exit_json(changed=True, entry=entry)


if __name__ == "__main__":
    main()
