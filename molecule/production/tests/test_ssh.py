"""sshd as a user meets it: keys only, no root, no forwarding, modern
cryptography only (as ssh-audit sees it from the internet)."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import VPS, ssh

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from stack import PROJECT_DIR, molecule_inventory, run_playbook

ROLE_DEFAULTS = yaml.safe_load((PROJECT_DIR / "roles" / "sshd" / "defaults" / "main.yml").read_text())
# ssh-audit's warnings that docs/hardening.md explains (none: every algorithm
# offered passes), and its additional notes it explains, by their first words.
SSH_AUDIT_WARNINGS = []
SSH_AUDIT_NOTES = ("Be aware that, while this target properly supports the strict key exchange method",)


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


def test_a_network_error_on_the_fresh_login_never_reopens_root_login(vps, monkeypatch):
    """Before, any failure of the admin user's fresh-login check wrote
    PermitRootLogin prohibit-password over an earlier run's `no`. Here every
    new SSH connection of the run fails at the network (a ProxyCommand that
    closes it, no login refused), while the run itself goes on over the
    shared master connection opened before it, as in the test above."""
    monkeypatch.setenv("ANSIBLE_STRATEGY", "linear")
    assert permit_root_login(vps) == "no"
    subprocess.run(["ansible", "-i", str(molecule_inventory()), "production-vps", "-m", "ping"],
                   cwd=PROJECT_DIR, check=True, capture_output=True)
    common_args = ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
                   " -o ProxyCommand=false")
    rc, output = run_playbook("playbooks/provision.yml", extra_vars={"ansible_ssh_common_args": common_args},
                              args=["--tags", "sshd"])
    assert rc == 0, output
    assert "got no answer (a network error, not a refused key); root login stays as an earlier run left it (no)" \
        in " ".join(output.split()), output[-3000:]
    assert permit_root_login(vps) == "no"


def test_sshd_offers_only_the_roles_algorithms(vps):
    """Debian 13's defaults also offer ecdh-sha2-nistp*, hmac-sha1(-etm),
    umac-64 and encrypt-and-MAC MACs, and ECDSA host keys: the role's lists
    (all known to Debian 13's OpenSSH 10.0) replace them."""
    settings = dict(line.split(" ", 1) for line in vps.check_output("sshd -T").splitlines() if " " in line)
    assert settings["kexalgorithms"].split(",") == ROLE_DEFAULTS["sshd_kex_algorithms"]
    assert settings["ciphers"].split(",") == ROLE_DEFAULTS["sshd_ciphers"]
    assert settings["macs"].split(",") == ROLE_DEFAULTS["sshd_macs"]
    assert settings["hostkeyalgorithms"].split(",") == ROLE_DEFAULTS["sshd_host_key_algorithms"]


def test_ssh_audit_from_the_internet_finds_no_failure(internet):
    """ssh-audit 3.3 (Debian 13) against port 22, as a scanner on the
    internet runs it. Before the role set the algorithms it failed the NIST
    curves (key exchange and the ECDSA host key) and hmac-sha1(-etm), and
    warned of umac-64 and encrypt-and-MAC MACs. The rate test is skipped: its
    burst of unauthenticated connections would earn this client OpenSSH's
    PerSourcePenalties, and the other logins from it would be refused. Last in
    this file for the same reason. About 1 s."""
    result = internet.run(f"ssh-audit --json --skip-rate-test --timeout 10 {VPS}")
    assert result.stdout.startswith("{"), result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["target"] == f"{VPS}:22"
    findings = {"fail": [], "warn": []}
    for kind in ("kex", "key", "enc", "mac"):
        for algorithm in report[kind]:
            for level in findings:
                findings[level] += [f"{algorithm['algorithm']}: {note}" for note in algorithm.get("notes", {}).get(level, [])]
    assert findings["fail"] == []
    assert not report["cves"]
    assert sorted(findings["warn"]) == SSH_AUDIT_WARNINGS, "docs/hardening.md explains each warning"
    unexplained = [note for note in report["additional_notes"] if note and not note.startswith(SSH_AUDIT_NOTES)]
    assert not unexplained, "docs/hardening.md explains each note"
