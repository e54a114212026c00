"""From the internet only SSH, HTTP and HTTPS answer, whatever Docker publishes."""

import pytest

from conftest import LIVE_APP, curl, inspect, tcp_open

PROBE = "production-published-probe"


def test_ssh_http_and_https_open_from_the_internet(internet):
    assert tcp_open(internet, 22)
    assert tcp_open(internet, 80)
    assert tcp_open(internet, 443)


@pytest.mark.parametrize("port", [8000, 2375, 2376, 5000, 8080])
def test_other_ports_closed_from_the_internet(internet, port):
    assert not tcp_open(internet, port)


def test_gunicorn_answers_on_the_vps_itself(vps):
    assert vps.socket("tcp://127.0.0.1:8000").is_listening
    assert not vps.socket("tcp://0.0.0.0:8000").is_listening
    headers = vps.check_output("curl -sS -m 5 -D - -o /dev/null http://127.0.0.1:8000/healthz")
    assert "Server: gunicorn" in headers


def test_published_port_cannot_bypass_the_firewall(vps, internet):
    image = inspect(vps, LIVE_APP)["Config"]["Image"]
    address = vps.check_output(
        "ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -n1"
    )
    vps.run(f"docker rm -f {PROBE}")
    vps.check_output(f"docker run -d --name {PROBE} -p 8081:8000 {image}")
    try:
        # Published on every address and answering on the VPS...
        assert vps.run(
            f"for i in $(seq 30); do curl -sf -m 2 http://{address}:8081/healthz && exit 0; sleep 1; done; exit 1"
        ).rc == 0
        # ...but not from the internet.
        assert not tcp_open(internet, 8081)
    finally:
        vps.run(f"docker rm -f {PROBE}")


def test_firewall_rules_loaded(vps):
    rules = vps.check_output("nft list table inet firewall")
    assert "hook input priority filter; policy drop;" in rules
    assert "hook forward priority filter; policy drop;" in rules
    assert vps.service("nftables").is_enabled


def test_site_answers_through_nginx(internet):
    rc, status, _ = curl(internet, "/healthz")
    assert (rc, status) == (0, 200)
