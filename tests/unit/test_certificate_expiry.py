"""The deploy's verdict on the served certificate's expiry, from real
certificates' notAfter as x509_certificate_info reports it."""

from datetime import UTC, datetime, timedelta

import pytest

x509 = pytest.importorskip("cryptography.x509")
from ansible_collections.flask_vps.stack.plugins.filter import (
    certificate_expiry as plugin,
)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def certificate(days_left, hours=1, lifetime=90):
    """A self-signed certificate of `lifetime` days valid until `days_left`
    days (and an hour) after NOW; its validity as x509_certificate_info
    gives it: {not_before, not_after}."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example.com")])
    expires = NOW + timedelta(days=days_left, hours=hours)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(expires - timedelta(days=lifetime))
            .not_valid_after(expires)
            .sign(key, hashes.SHA256()))
    return {"not_before": cert.not_valid_before_utc.strftime("%Y%m%d%H%M%SZ"),
            "not_after": cert.not_valid_after_utc.strftime("%Y%m%d%H%M%SZ")}


def verdict(days_left, hours=1, lifetime=90, **kwargs):
    cert = certificate(days_left, hours, lifetime)
    return plugin.certificate_expiry(cert["not_after"], cert["not_before"], now=NOW, **kwargs)


def test_a_fresh_certificate_prints_its_expiry_and_days_left():
    result = verdict(89)
    assert result["state"] == "ok"
    assert (result["expires"], result["days_left"]) == ("2027-03-02", 89)
    assert result["msg"] == "The certificate expires on 2027-03-02 13:00 UTC: 89 days left."


@pytest.mark.parametrize("days_left", [20, 7])
def test_under_21_days_warns(days_left):
    result = verdict(days_left, hint="See journalctl -u certbot.")
    assert result["state"] == "warn"
    assert result["msg"].startswith("WARNING: The certificate expires on")
    assert f"{days_left} days left. See journalctl -u certbot." in result["msg"]


def test_21_days_is_still_ok():
    assert verdict(21)["state"] == "ok"


@pytest.mark.parametrize("days_left", [6, 0])
def test_under_7_days_fails_and_names_the_way_out(days_left):
    result = verdict(days_left, override="app_tls_allow_expiring_certificate")
    assert result["state"] == "fail"
    assert result["days_left"] == days_left
    assert "set app_tls_allow_expiring_certificate: true" in result["msg"]


def test_an_expired_certificate_fails():
    result = verdict(-3, hours=0)
    assert result["state"] == "fail"
    assert "EXPIRED" in result["msg"]


def test_the_user_may_deploy_with_an_expiring_certificate_and_is_warned():
    result = verdict(2, allow_expiring=True, override="app_tls_allow_expiring_certificate")
    assert result["state"] == "warn"
    assert "set app_tls_allow_expiring_certificate" not in result["msg"]


def test_it_is_an_ansible_filter():
    assert plugin.FilterModule().filters()["certificate_expiry"] is plugin.certificate_expiry


def test_without_its_start_the_90_day_limits_apply():
    cert = certificate(6)
    assert plugin.certificate_expiry(cert["not_after"], now=NOW)["state"] == "fail"
    assert plugin.certificate_expiry(cert["not_after"], now=NOW, hint="")["days_left"] == 6


@pytest.mark.parametrize(("days_left", "hours", "state"), [
    (6, 1, "ok"),      # a fresh 7-day certificate (a test CA's)
    (2, 0, "warn"),    # under a third of its life left
    (0, 12, "fail"),   # under a tenth
])
def test_a_short_lived_certificate_is_judged_by_its_own_lifetime(days_left, hours, state):
    assert verdict(days_left, hours=hours, lifetime=7)["state"] == state


def test_a_30_day_certificate_warns_under_10_days_and_fails_under_3():
    assert verdict(29, lifetime=30)["state"] == "ok"
    assert verdict(9, lifetime=30)["state"] == "warn"
    assert verdict(2, lifetime=30)["state"] == "fail"
