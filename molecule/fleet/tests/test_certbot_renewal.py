"""A certbot renewal that fails on the load balancer is reported: the unit
is failed and the notification command (backup_notify_command, which the
alerts role takes as its own by default) has run."""

import time

import pytest

RENEWAL = "/etc/letsencrypt/renewal/flaskapp.conf"
# Nothing listens there: every renewal attempt fails at once.
UNREACHABLE = "https://127.0.0.1:9/dir"


@pytest.fixture
def broken_renewal(lb):
    """certbot's renewal settings for the site pointed at an unreachable CA,
    with the certificate due for renewal; restored afterwards."""
    lb.check_output(f"cp -p {RENEWAL} /root/renewal.conf.saved")
    try:
        lb.check_output(f"sed -i -e 's|^server = .*|server = {UNREACHABLE}|'"
                        f" -e '1i renew_before_expiry = 3000 days' {RENEWAL}")
        yield
    finally:
        lb.check_output(f"mv /root/renewal.conf.saved {RENEWAL}")
        lb.run("systemctl reset-failed certbot.service")


def test_certbot_service_sends_an_alert_on_failure(lb):
    dropin = lb.file("/etc/systemd/system/certbot.service.d/notify.conf")
    assert dropin.exists and "OnFailure=flask-vps-alert@%n.service" in dropin.content_string
    # The notification command lives in the alerts' settings, root's alone.
    assert lb.file("/etc/flask-vps/alerts/config.json").mode == 0o600


@pytest.mark.usefixtures("broken_renewal")
def test_a_failed_renewal_fails_the_unit_and_is_reported(lb):
    served = lb.file("/etc/haproxy/tls/site.pem").sha256sum
    since = lb.check_output("date '+%Y-%m-%d %H:%M:%S'")
    assert lb.run("systemctl start certbot.service").rc != 0
    assert lb.run("systemctl is-failed certbot.service").stdout.strip() == "failed"
    deadline = time.monotonic() + 30
    while "certbot.service failed on fleet-lb" not in (
            alerts := lb.check_output(f"journalctl -q -t flask-vps-alert --since '{since}'")):
        assert time.monotonic() < deadline, alerts
        time.sleep(1)
    # HAProxy still serves the certificate it had.
    assert lb.file("/etc/haproxy/tls/site.pem").sha256sum == served
