"""Test VPS containers for the preflight suite, and a runner for ansible-playbook.

Four containers, started once per session and always removed at the end:
  vps13   flask-vps/vps:13, booted like the Molecule platform (systemd)
  vps12   flask-vps/vps:12, the same on Debian 12
  fake    flask-vps/vps:13 whose /etc/os-release a case may rewrite, and with
          a python3 wrapper that runs under a 32-bit personality (setarch)
  nopy    flask-vps/vps:13 with python3 removed
and the stand-in of Docker's apt repository (flask-vps/docker-ce-repo, see
lab/scripts/docker-ce-standin.sh) on a network vps13 and vps12 join, reachable
there as http://docker-ce-repo/ (DOCKER_CE_REPO).
Each case records the target's state before and after the run.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUFFIX = str(os.getpid())
NETWORK = f"preflight-net-{SUFFIX}"
DOCKER_CE_REPO = "http://docker-ce-repo/linux/debian"

sys.path.insert(0, str(REPO / "molecule" / "shared"))
from stack import VPS_COMMAND, VPS_RUN_ARGS, wait_for_boot

# What "nothing changed" means on the target: every file, directory and link
# under these trees with its mode, owner, size and content checksum, the
# installed packages, apt's lists, and Docker's absence.
SNAPSHOT_SCRIPT = r"""
for d in /etc /srv /usr/local /opt /root /var/lib/apt/lists; do
  [ -e "$d" ] && find "$d" -xdev -printf '%p %M %u:%g %s %l\n'
done | sort
find /etc /srv /usr/local /opt /root -xdev -type f -exec sha256sum {} + 2>/dev/null | sort
dpkg-query -W -f '${Package} ${Version} ${Status}\n'
command -v docker dockerd || echo "no docker"
if [ -e /var/lib/docker ]; then ls -A /var/lib/docker; else echo "no /var/lib/docker"; fi
"""


def docker(*args, check=True, **kwargs):
    return subprocess.run(
        ["docker", *args], check=check, capture_output=True, text=True, timeout=120, **kwargs
    )


class Target:
    def __init__(self, name, image, command, run_args, prepare=None):
        self.name = name
        self.image = image
        self.command = command
        self.run_args = run_args
        self.prepare = prepare

    def start(self):
        docker("rm", "-f", "-v", self.name, check=False)
        docker("run", "-d", "--name", self.name, "--label", "flask-vps.test=preflight",
               *self.run_args, self.image, *self.command)

    def ready(self):
        if self.prepare:
            self.prepare(self)

    def reset(self):
        """A fresh container, after a run that changed this one."""
        self.start()
        self.ready()

    def exec(self, script, check=True):
        return docker("exec", self.name, "sh", "-c", script, check=check)

    def snapshot(self):
        return self.exec(SNAPSHOT_SCRIPT).stdout

    def remove(self):
        docker("rm", "-f", "-v", self.name, check=False)


def wait_for_systemd(target):
    wait_for_boot(target.name)


def remove_stale_containers():
    """Containers left by a run that was killed (its pid is gone)."""
    names = docker("ps", "-a", "--filter", "label=flask-vps.test=preflight",
                   "--format", "{{.Names}}").stdout.split()
    networks = docker("network", "ls", "--filter", "label=flask-vps.test=preflight",
                      "--format", "{{.Name}}").stdout.split()
    for kind, found in (("container", names), ("network", networks)):
        for name in found:
            pid = name.rsplit("-", 1)[-1]
            if not pid.isdigit():
                continue
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                if kind == "container":
                    docker("rm", "-f", "-v", name, check=False)
                else:
                    docker("network", "rm", name, check=False)
            except PermissionError:
                pass


@pytest.fixture(scope="session")
def targets():
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        pytest.fail("the preflight suite needs a running Docker daemon")
    remove_stale_containers()
    images = {"vps13": "flask-vps/vps:13", "vps12": "flask-vps/vps:12",
              "repo": "flask-vps/docker-ce-repo:latest"}
    for image in images.values():
        if docker("image", "inspect", image, check=False).returncode != 0:
            pytest.fail(f"image {image} is missing: run make images")
    found = {
        "vps13": Target(f"preflight-vps13-{SUFFIX}", images["vps13"],
                        VPS_COMMAND, [*VPS_RUN_ARGS, "--network", NETWORK],
                        wait_for_systemd),
        "vps12": Target(f"preflight-vps12-{SUFFIX}", images["vps12"],
                        VPS_COMMAND, [*VPS_RUN_ARGS, "--network", NETWORK],
                        wait_for_systemd),
        "fake": Target(f"preflight-fake-{SUFFIX}", images["vps13"], ["sleep", "infinity"], [],
                       add_32bit_python),
        "nopy": Target(f"preflight-nopy-{SUFFIX}", images["vps13"], ["sleep", "infinity"], [],
                       remove_python),
    }
    repo = Target(f"preflight-docker-ce-repo-{SUFFIX}", images["repo"],
                  ["python3", "-m", "http.server", "--bind", "0.0.0.0", "80"],
                  ["--network", NETWORK, "--network-alias", "docker-ce-repo"])
    docker("network", "create", "--label", "flask-vps.test=preflight", NETWORK)
    try:
        repo.start()
        for target in found.values():
            target.start()
        for target in found.values():
            target.ready()
        # The same container, reached through the 32-bit interpreter.
        yield {**found, "fake32": found["fake"]}
    finally:
        for target in [*found.values(), repo]:
            target.remove()
        docker("network", "rm", NETWORK, check=False)


def remove_python(target):
    target.exec("rm -f /usr/bin/python3 /usr/bin/python3.*")


def add_32bit_python(target):
    """uname -m says i686 for this interpreter: Ansible's architecture fact
    becomes i386, as on a 32-bit VPS."""
    target.exec(
        "printf '#!/bin/sh\\nexec setarch i686 /usr/bin/python3 \"$@\"\\n'"
        " > /usr/local/bin/python3-i686 && chmod 0755 /usr/local/bin/python3-i686"
    )


@pytest.fixture(scope="session")
def inventories(targets, tmp_path_factory):
    """One inventory per target (plus one with an unreachable second host),
    in a directory that links the project's group_vars as Molecule does."""
    directory = tmp_path_factory.mktemp("inventory")
    (directory / "group_vars").symlink_to(REPO / "lab" / "inventory" / "group_vars")
    paths = {}

    def write(key, hosts):
        lines = ["---", "vps:", "  hosts:"]
        lines += [f"    {name}:" for name in hosts]
        lines += ["local_vps:", "  hosts:"]
        for name, host_vars in hosts.items():
            lines.append(f"    {name}:")
            lines += [f"      {k}: {v}" for k, v in host_vars.items()]
        path = directory / f"{key}.yml"
        path.write_text("\n".join(lines) + "\n")
        paths[key] = path

    def docker_host():
        return {"ansible_connection": "community.docker.docker",
                "local_vps_project_dir": str(REPO)}

    for key, target in targets.items():
        write(key, {target.name: docker_host()})
    write("fake32", {targets["fake32"].name: {
        **docker_host(), "ansible_python_interpreter": "/usr/local/bin/python3-i686"}})
    # A second host that refuses connections: nothing listens on this port.
    write("unreachable", {
        targets["vps13"].name: docker_host(),
        f"preflight-unreachable-{SUFFIX}": {
            "ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 18599,
            "ansible_user": "root", "local_vps_project_dir": str(REPO),
            "ansible_ssh_common_args": "'-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'",
        },
    })
    return paths


def ansible_playbook_command():
    local = Path(sys.executable).parent / "ansible-playbook"
    return str(local) if local.exists() else shutil.which("ansible-playbook")


class Run:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr

    def __repr__(self):
        return f"<ansible-playbook rc={self.rc}>\n{self.output[-6000:]}"

    @property
    def failed_task(self):
        """The task the run stopped at, without its role's name: the last one
        it started, if a host failed there (None otherwise)."""
        tasks = re.findall(r"^TASK \[(?:[\w.-]+ : )?(.*)\] \*+$", self.output, re.MULTILINE)
        last = self.output.rfind("\nTASK [")
        if not tasks or not re.search(r"^(fatal|failed): ", self.output[last:], re.MULTILINE):
            return None
        # The check Ansible adds as a role starts also carries the role's description.
        return re.sub(r"^(Validating arguments against arg spec '[^']*') - .*", r"\1", tasks[-1])


@pytest.fixture(scope="session")
def run_playbook(inventories):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_PIPELINING": "true",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
    })
    env.pop("ANSIBLE_ROLES_PATH", None)

    def run(inventory, extra_vars=(), playbook="site.yml"):
        cmd = [ansible_playbook_command(), playbook, "-i", str(inventories[inventory])]
        for value in extra_vars:
            cmd += ["-e", value]
        proc = subprocess.run(cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        return Run(proc)

    return run
