#!/usr/bin/python
"""Give every kept release the current value of one of its secrets.

Each release keeps its own secrets (a rollback runs with what it was
deployed with). A secret that belongs to something outside the release, the
database's connection string, must follow that thing instead: once the
database's password changes, an older release with the old one would go
live unable to reach its database. This module rewrites the named secret in
every release that has it and reports which releases it rewrote. Releases
without the secret are left alone (their compose file does not mount it).

The file is rewritten in place, not replaced: a running container's bind
mount holds the file's inode, so the live release sees the new value at once
and a graceful reload of its server is enough to use it.
"""

import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: release_secret
short_description: Rewrite one secret in every kept release
options:
  releases_dir:
    description: Directory holding one directory per release, each with a C(secrets) directory.
    type: path
    required: true
  name:
    description: File name of the secret under C(secrets).
    type: str
    required: true
  content:
    description: The secret's current value.
    type: str
    required: true
  current:
    description: Symlink to the live release's directory.
    type: path
    required: true
"""

RETURN = r"""
rewritten:
  description: Releases whose copy of the secret was rewritten (sorted).
  type: list
  elements: str
live:
  description: The live release (empty when none is).
  type: str
"""


def stale_copies(releases_dir, name, content):
    """Paths, by release, of the copies of the secret whose content differs."""
    stale = {}
    for release in sorted(os.listdir(releases_dir)):
        path = os.path.join(releases_dir, release, "secrets", name)
        try:
            with open(path, "rb") as secret:
                if secret.read() != content:
                    stale[release] = path
        except (FileNotFoundError, NotADirectoryError):
            continue
    return stale


def rewrite_in_place(path, content):
    """Same inode, owner, group and mode; a release pruned meanwhile is skipped."""
    try:
        with open(path, "r+b") as secret:
            secret.truncate(0)
            secret.write(content)
            secret.flush()
            os.fsync(secret.fileno())
    except FileNotFoundError:
        pass


def main():
    module = AnsibleModule(
        argument_spec={
            "releases_dir": {"type": "path", "required": True},
            "name": {"type": "str", "required": True},
            "content": {"type": "str", "required": True, "no_log": True},
            "current": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    live = os.path.basename(os.readlink(params["current"])) if os.path.islink(params["current"]) else ""
    if not os.path.isdir(params["releases_dir"]):
        module.exit_json(changed=False, rewritten=[], live=live)
    content = params["content"].encode("utf-8")
    stale = stale_copies(params["releases_dir"], params["name"], content)
    if not module.check_mode:
        for path in stale.values():
            rewrite_in_place(path, content)
    module.exit_json(changed=bool(stale), rewritten=sorted(stale), live=live)


if __name__ == "__main__":
    main()
