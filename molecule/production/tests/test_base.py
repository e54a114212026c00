"""Unattended security upgrades."""


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
