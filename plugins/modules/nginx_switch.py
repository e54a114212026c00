#!/usr/bin/python
"""Make nginx serve a site's staged configuration, safely.

One nginx serves every site (app) of the host. Each site's run renders the
files it owns (`sites/<site>.conf`, `streams/<site>.conf`) and the front's
common ones into `staged/<site>/`. This module then, holding the front's
lock (so two sites switching at once take turns): lays that over a copy of
the live configuration, which keeps every other site as nginx serves it,
and, only when nginx does not already serve exactly the result: tests it
with `nginx -t` (in the running nginx, or, when nginx is not running, in a
one-off container of the same service: same image, mounts and network),
makes it `configs/<digest>/`, points the `live` symlink at it in one rename,
reloads nginx gracefully, and waits until the old workers have finished
their requests. A configuration nginx refuses never replaces the live one
(so one site's bad value never reaches the others), and a run killed at any
point leaves `live` naming a whole, tested configuration; the next run
reloads if nginx may not have.
"""

import fcntl
import hashlib
import os
import shutil
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: nginx_switch
short_description: Test, promote and gracefully reload a staged nginx configuration
options:
  root:
    description: Directory on the host mounted as I(container_root) in the nginx container.
    type: path
    required: true
  container_root:
    description: Where nginx sees I(root).
    type: str
    required: true
  project_dir:
    description: Compose project directory of the nginx service.
    type: path
    required: true
  service:
    description: Compose service name of nginx.
    type: str
    default: nginx
  worker_timeout:
    description: Seconds to wait for the old workers after a reload.
    type: int
    default: 60
  site:
    description: The site whose files are staged in C(staged/<site>/).
    type: str
    required: true
"""

RETURN = r"""
digest:
  description: Digest of the configuration nginx now serves.
  type: str
reloaded:
  description: Whether nginx was reloaded.
  type: bool
"""

STAGED = "staged"
CONFIGS = "configs"
LIVE = "live"
# Where a site's files are laid over the live ones and tested.
CANDIDATE = "candidate"
# Held while a site's configuration is assembled, tested and made live.
LOCK = ".switch.lock"
# A site's own files, in these directories; every other file is common.
SITE_DIRS = ("sites", "streams")
# Digest of the configuration nginx loaded last; written after a reload.
SERVED = "served"
# Prints the PIDs of nginx's worker processes (the images have no ps).
WORKERS_SCRIPT = (
    'cd /proc && for pid in [0-9]*; do '
    'case "$(tr "\\0" " " < $pid/cmdline 2>/dev/null)" in "nginx: worker process"*) echo $pid ;; esac; '
    'done'
)


def tree_files(directory):
    """Sorted relative paths of the regular files under directory."""
    files = []
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        for name in names:
            files.append(os.path.relpath(os.path.join(root, name), directory))
    return sorted(files)


def tree_digest(directory):
    digest = hashlib.sha256()
    for rel in tree_files(directory):
        with open(os.path.join(directory, rel), "rb") as handle:
            digest.update(rel.encode() + b"\0" + hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()[:16]


def read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return ""


def write_atomically(path, content):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(content)
    os.replace(tmp, path)


def owned_by(rel, site):
    """Whether the relative path is one of the site's own files."""
    parts = rel.split(os.sep)
    return len(parts) == 2 and parts[0] in SITE_DIRS and parts[1].rsplit(".", 1)[0] == site


def assemble(root, site):
    """candidate/ := the live tree without the site's old files, with the
    site's staged files (its own and the common ones) over it."""
    candidate = os.path.join(root, CANDIDATE)
    shutil.rmtree(candidate, ignore_errors=True)
    live = os.path.join(root, LIVE)
    if os.path.isdir(live):
        shutil.copytree(live, candidate, ignore=lambda d, names: [
            name for name in names if owned_by(os.path.relpath(os.path.join(d, name), live), site)])
    shutil.copytree(os.path.join(root, STAGED, site), candidate, dirs_exist_ok=True)
    return candidate


def point_live_at(root, digest, source):
    """Move the source tree to configs/<digest> in one rename (unless a
    tree of that digest is there already), then swap the live symlink in
    another."""
    target = os.path.join(root, CONFIGS, digest)
    if not os.path.isdir(target):
        os.replace(source, target)
    link = os.path.join(root, LIVE)
    tmp = f"{link}.tmp"
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(os.path.join(CONFIGS, digest), tmp)
    os.replace(tmp, link)


def prune_configs(root, keep):
    configs = os.path.join(root, CONFIGS)
    for name in os.listdir(configs):
        if name not in keep:
            shutil.rmtree(os.path.join(configs, name), ignore_errors=True)


class Nginx:
    """The running nginx service, through `docker compose exec`."""

    def __init__(self, module):
        self.module = module
        self.compose = ["docker", "compose", "--project-directory", module.params["project_dir"]]
        self.service = module.params["service"]

    def run(self, *argv):
        return subprocess.run([*self.compose, "exec", "-T", self.service, *argv],
                              capture_output=True, text=True, check=False)

    def is_running(self):
        return self.run("true").returncode == 0

    def test(self, conf, running):
        """`nginx -t` of conf: in the running nginx, else in a one-off
        container of the service (its image, mounts and network; no ports),
        so a configuration is tested before it is live either way."""
        if running:
            return self.run("nginx", "-t", "-q", "-c", conf)
        return subprocess.run(
            [*self.compose, "run", "--rm", "--no-deps", "-T", "--entrypoint", "nginx", self.service,
             "-t", "-q", "-c", conf],
            capture_output=True, text=True, check=False)

    def workers(self):
        return self.run("sh", "-c", WORKERS_SCRIPT).stdout.split()

    def wait_for_exit(self, pids, timeout):
        """Old workers finish their requests within worker_shutdown_timeout."""
        if not pids:
            return True
        check = " ".join(f"[ ! -e /proc/{pid} ] &&" for pid in pids) + " true"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run("sh", "-c", check).returncode == 0:
                return True
            time.sleep(0.5)
        return False


def main():
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "container_root": {"type": "str", "required": True},
            "project_dir": {"type": "path", "required": True},
            "service": {"type": "str", "default": "nginx"},
            "worker_timeout": {"type": "int", "default": 60},
            "site": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    root = module.params["root"]
    with open(os.path.join(root, LOCK), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        switch(module, root, assemble(root, module.params["site"]))


def switch(module, root, candidate):
    container_conf = f"{module.params['container_root']}/{{}}/nginx.conf"
    digest = tree_digest(candidate)
    live = os.path.basename(os.readlink(os.path.join(root, LIVE))) if os.path.islink(os.path.join(root, LIVE)) else ""
    served = read(os.path.join(root, SERVED))
    result = {"digest": digest, "reloaded": False}
    if live == digest and served == digest:
        shutil.rmtree(candidate)
        module.exit_json(changed=False, **result)
    if module.check_mode:
        shutil.rmtree(candidate)
        module.exit_json(changed=True, **result)

    nginx = Nginx(module)
    running = nginx.is_running()
    if live != digest:
        test = nginx.test(container_conf.format(CANDIDATE), running)
        if test.returncode != 0:
            shutil.rmtree(candidate)
            keeps = "it keeps serving the live one" if running else "nothing was made live"
            module.fail_json(
                msg=f"nginx refused the new configuration; {keeps}. " + (test.stderr or test.stdout).strip(),
                **result)
        os.makedirs(os.path.join(root, CONFIGS), mode=0o755, exist_ok=True)
        point_live_at(root, digest, candidate)
    shutil.rmtree(candidate, ignore_errors=True)
    if running:
        old_workers = nginx.workers()
        reload = nginx.run("nginx", "-s", "reload", "-c", container_conf.format(LIVE))
        if reload.returncode != 0:
            module.fail_json(msg="nginx did not reload: " + (reload.stderr or reload.stdout).strip(), **result)
        result["reloaded"] = True
        if not nginx.wait_for_exit(old_workers, module.params["worker_timeout"]):
            module.fail_json(msg="nginx's old workers did not exit in time.", **result)
    # Not running: the next task starts nginx on the live configuration.
    write_atomically(os.path.join(root, SERVED), digest + "\n")
    prune_configs(root, {digest, live})
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
