"""The kernel's network hardening is in effect, with the user's override
(test_resilience.py checks it survives the reboot)."""

import yaml

from conftest import SCENARIO_DIR

ROLE_VARS = SCENARIO_DIR.parents[1] / "roles" / "base" / "vars" / "main.yml"
SYSCTL_FILE = "/etc/sysctl.d/90-flask-vps.conf"


def expected():
    hardening = yaml.safe_load(ROLE_VARS.read_text())["__base_sysctl_hardening"]
    overrides = yaml.safe_load((SCENARIO_DIR / "host_vars" / "production-vps" / "vars.yml").read_text())
    return {**hardening, **overrides["base_sysctl_settings"]}


def test_kernel_runs_with_the_settings(vps):
    settings = expected()
    assert len(settings) >= 15
    live = {name: vps.sysctl(name) for name in settings}
    assert live == settings
    # Spelled out, so an emptied list cannot pass.
    assert live["net.ipv4.conf.all.send_redirects"] == 0
    assert live["net.ipv4.conf.all.accept_source_route"] == 0
    assert live["net.ipv4.tcp_syncookies"] == 1
    assert live["net.ipv4.conf.all.rp_filter"] == 2


def test_settings_are_written_for_the_next_boot(vps):
    written = dict(
        line.replace(" ", "").split("=", 1)
        for line in vps.file(SYSCTL_FILE).content_string.splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert written == {name: str(value) for name, value in expected().items()}


def test_docker_keeps_ip_forwarding(vps):
    assert vps.sysctl("net.ipv4.ip_forward") == 1
