"""sshd as a user meets it: keys only, no root, no forwarding."""

import subprocess
import sys
from pathlib import Path

from conftest import VPS, ssh

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from stack import PROJECT_DIR, molecule_inventory, run_playbook


def test_sshd_effective_settings(vps):
    settings = dict(
        line.split(" ", 1) for line in vps.check_output("sshd -T").splitlines() if " " in line
    )
    assert settings["port"] == "22"
    assert settings["passwordauthentication"] == "no"
    assert settings["kbdinteractiveauthentication"] == "no"
    assert settings["permitrootlogin"] == "no"
    assert settings["maxauthtries"] == "3"
    assert settings["x11forwarding"] == "no"
    assert settings["allowagentforwarding"] == "no"
    assert settings["allowtcpforwarding"] == "no"
    assert settings["permittunnel"] == "no"


def test_provider_dropin_does_not_weaken_sshd(vps):
    # prepare.yml left the provider's "PasswordAuthentication yes" in place.
    assert "PasswordAuthentication yes" in vps.file("/etc/ssh/sshd_config.d/50-provider.conf").content_string


def test_deploy_user_logs_in_with_key_and_becomes_root(ssh_key):
    result = ssh(ssh_key, "deploy", "id -un && sudo -n id -u")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["deploy", "0"]


def test_root_key_login_refused(ssh_key):
    result = ssh(ssh_key, "root", "true")
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def test_password_login_refused(internet):
    # The same password logged in during prepare, before the hardening.
    result = internet.run(
        "sshpass -p provider-password ssh -o StrictHostKeyChecking=no"
        " -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no"
        f" -o ConnectTimeout=10 root@{VPS} true"
    )
    assert result.rc != 0
    assert "Permission denied (publickey)" in result.stderr


def test_deploy_user_password_is_locked(vps):
    assert vps.check_output("passwd -S deploy").split()[1] == "L"


def test_providers_root_password_is_locked(vps):
    # prepare.yml set it (as a provider mails it); the deploy user works, so it is locked.
    assert vps.check_output("passwd -S root").split()[1] == "L"


def permit_root_login(vps):
    return dict(line.split(" ", 1) for line in vps.check_output("sshd -T").splitlines() if " " in line)["permitrootlogin"]


def test_root_login_is_closed_only_after_a_fresh_login_works(vps, monkeypatch):
    """The guard logs in anew: a connection Ansible opened before the deploy
    user's keys changed (ControlPersist) must not vouch for them. Such shared
    connections outlive a run only with Ansible's linear strategy (Mitogen's
    end with the run), so the runs here use it."""
    monkeypatch.setenv("ANSIBLE_STRATEGY", "linear")
    assert permit_root_login(vps) == "no"
    inventory = str(molecule_inventory())
    # Opens the shared master connection the next run would otherwise reuse.
    subprocess.run(["ansible", "-i", inventory, "production-vps", "-m", "ping"],
                   cwd=PROJECT_DIR, check=True, capture_output=True)
    keys = "/home/deploy/.ssh/authorized_keys"
    vps.check_output(f"cp -p {keys} /root/authorized_keys.saved && : > {keys}")
    try:
        rc, output = run_playbook("playbooks/provision.yml", args=["--tags", "sshd"])
        assert rc == 0, output
        assert "Root keeps key-only SSH login" in output
        assert permit_root_login(vps) == "without-password"
    finally:
        vps.check_output(f"cp -p /root/authorized_keys.saved {keys}")
    rc, output = run_playbook("playbooks/provision.yml", args=["--tags", "sshd"])
    assert rc == 0, output
    assert permit_root_login(vps) == "no"
