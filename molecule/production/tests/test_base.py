"""Unattended security upgrades; the extra CA certificates the VPS trusts."""

from conftest import run_playbook

EXTRA_CAS = "/usr/local/share/ca-certificates/flask-vps"


def test_unattended_upgrades_run_daily(vps):
    assert vps.package("unattended-upgrades").is_installed
    assert vps.service("unattended-upgrades").is_enabled
    config = vps.check_output("apt-config dump APT::Periodic")
    assert 'APT::Periodic::Update-Package-Lists "1";' in config
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config


def test_security_archive_is_upgraded(vps):
    origins = vps.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    assert "label=Debian-Security" in origins


def test_security_archive_is_an_apt_source(vps):
    policy = vps.check_output("apt-cache policy")
    assert "-security" in policy


def test_a_ca_dropped_from_the_extra_ca_certificates_is_no_longer_trusted(vps):
    """A CA an earlier run installed (docker_extra_ca_certificates named it
    then) that the list no longer names: before, its file stayed in the
    role's directory and the VPS went on trusting it. One provision run with
    --tags docker (about 15 s)."""
    listed = vps.check_output(f"ls {EXTRA_CAS}").split()
    assert "acme-api-ca.crt" in listed
    vps.check_output(
        "cd /root && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1"
        " -subj '/CN=Dropped test CA' -keyout dropped-ca.key -out dropped-ca.pem 2>/dev/null"
        f" && install -m 0644 dropped-ca.pem {EXTRA_CAS}/dropped-ca.crt && update-ca-certificates")
    try:
        assert vps.run("openssl verify -CApath /etc/ssl/certs /root/dropped-ca.pem").rc == 0
        rc, output = run_playbook("playbooks/provision.yml", args=["--tags", "docker"])
        assert rc == 0, output[-3000:]
        assert "Remove extra CA certificates no longer listed" in output
        assert vps.check_output(f"ls {EXTRA_CAS}").split() == listed
        assert not vps.file("/etc/ssl/certs/dropped-ca.pem").exists
        for trust in ("-CApath /etc/ssl/certs", "-CAfile /etc/ssl/certs/ca-certificates.crt"):
            assert vps.run(f"openssl verify {trust} /root/dropped-ca.pem").rc != 0, trust
        # The CAs still listed are still trusted: the site's ACME CA answers.
        assert vps.run("curl -sS -m 10 -o /dev/null https://acme:14000/dir").rc == 0
    finally:
        vps.run(f"rm -f /root/dropped-ca.* {EXTRA_CAS}/dropped-ca.crt && update-ca-certificates --fresh")
