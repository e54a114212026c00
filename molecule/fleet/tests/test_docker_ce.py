"""Docker CE from the (stand-in) Docker repository on the Debian 12 app host:
the legacy definitions prepare.yml planted are gone, apt is clean, the pinned
version is installed and held, and an upgrade on purpose keeps the stack
serving."""

import pytest
import testinfra

from load import Load
from stack import recap, run_playbook

PINNED = "5:26.1.4-1~debian.12~bookworm"
WEB2 = "fleet-web2"


@pytest.fixture(scope="module")
def host():
    return testinfra.get_host(f"docker://{WEB2}")


@pytest.mark.parametrize("path", [
    "/etc/apt/sources.list.d/docker.list",
    "/etc/apt/keyrings/docker.gpg",
    "/etc/apt/trusted.gpg.d/docker.asc",
    "/etc/apt/trusted.gpg.d/docker.gpg",
])
def test_legacy_definitions_are_removed(host, path):
    assert not host.file(path).exists


def test_apt_key_keyring_has_no_docker_key(host):
    keys = host.check_output("gpg --batch --no-default-keyring --keyring /etc/apt/trusted.gpg"
                             " --with-colons --list-keys 2>/dev/null || true")
    assert "docker@docker.com" not in keys


def test_only_the_role_defines_dockers_repository(host):
    sources = host.file("/etc/apt/sources.list.d/docker.sources").content_string
    assert "URIs: http://docker-ce-repo/linux/debian" in sources
    assert "Signed-By: /etc/apt/keyrings/docker.asc" in sources
    grep = host.run("grep -rl docker-ce-repo /etc/apt/sources.list /etc/apt/sources.list.d")
    assert grep.stdout.split() == ["/etc/apt/sources.list.d/docker.sources"]


def test_apt_get_update_prints_no_warnings(host):
    result = host.run("apt-get update 2>&1")
    assert result.rc == 0, result.stdout
    problems = [line for line in result.stdout.splitlines() if line.startswith(("W:", "E:", "N:"))]
    assert problems == []


@pytest.mark.parametrize("package", ["docker.io", "containerd", "runc"])
def test_debians_docker_packages_are_removed(host, package):
    assert not host.package(package).is_installed


@pytest.mark.parametrize("package", ["docker-ce", "docker-ce-cli"])
def test_pinned_version_is_installed_and_held(host, package):
    assert host.package(package).version == PINNED
    assert package in host.check_output("apt-mark showhold").split()


def test_newer_version_is_available_but_not_installed(host):
    policy = host.check_output("apt-cache policy docker-ce")
    assert "5:26.1.5-1~debian.12~bookworm" in policy
    assert f"Installed: {PINNED}" in policy


@pytest.mark.parametrize("path", [
    "/usr/bin/dockerd", "/usr/bin/docker", "/usr/bin/containerd",
    "/usr/bin/containerd-shim-runc-v2", "/usr/bin/runc",
    "/usr/libexec/docker/cli-plugins/docker-compose",
    "/usr/libexec/docker/cli-plugins/docker-buildx",
])
def test_docker_ce_paths(host, path):
    assert host.file(path).is_file
    assert host.file(path).mode & 0o111


def test_dockerd_runs_from_docker_ce_package(host):
    assert host.check_output("dpkg -S /usr/bin/dockerd").startswith("docker-ce:")
    assert host.check_output("readlink /proc/$(pidof dockerd)/exe") == "/usr/bin/dockerd"


def test_docker_group_exists(host):
    assert host.group("docker").exists


def test_an_upgrade_on_purpose_keeps_the_stack_running(host):
    """docker_upgrade: true with no pinned version: apt upgrades Docker CE and
    its package restarts the daemon; with live-restore the stack's containers
    keep running, and visitors are served again as soon as the daemon is back
    (it rewrites its port forwarding as it starts: new connections may fail
    for that moment, which the role says). Then the inventory's pinned version
    comes back for the tests that follow."""
    containers = "docker inspect -f '{{.Id}} {{.State.StartedAt}}' $(docker ps -q) | sort"
    before, dockerd = host.check_output(containers), host.check_output("pidof dockerd")
    try:
        # Straight to the host's nginx from the load balancer, the one
        # address its firewall lets in (HAProxy would hide the restart).
        with Load("fleet-lb", url="http://10.177.77.12/healthz", host_header="flask-vps.test", clients=2,
                  max_seconds=300) as load:
            rc, output = run_playbook("site.yml", extra_vars={"docker_version": "", "docker_upgrade": True},
                                      args=["--tags", "docker", "--limit", WEB2])
        assert rc == 0, output[-3000:]
        assert "published ports may refuse new connections" in output
        for package in ("docker-ce", "docker-ce-cli"):
            assert host.package(package).version == "5:26.1.5-1~debian.12~bookworm"
            assert package not in host.check_output("apt-mark showhold").split()
        assert host.check_output("pidof dockerd") != dockerd  # the daemon did restart
        assert host.check_output(containers) == before  # the same containers, never restarted
        print("load:", load.result)
        result = load.result
        assert result["requests"] - result["failed"] > 10, result
        # Served again by itself after the restart, and to the end.
        assert result["last_success_at"] > (result["last_failure_at"] or 0), result
        # Without docker_upgrade, the next run leaves the new version alone and changes nothing.
        rc, output = run_playbook("site.yml", extra_vars={"docker_version": ""},
                                  args=["--tags", "docker", "--limit", WEB2])
        assert rc == 0 and recap(output)["changed"] == 0, output[-3000:]
    finally:
        rc, output = run_playbook("site.yml", args=["--tags", "docker", "--limit", WEB2])
    assert rc == 0, output[-3000:]
    assert host.package("docker-ce").version == PINNED
    assert host.check_output(containers) == before
