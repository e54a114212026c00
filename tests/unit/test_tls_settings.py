"""Preflight's HTTPS checks, on their own (the suite in tests/preflight runs them on a VPS)."""

import datetime

import pytest
from ansible_collections.flask_vps.stack.plugins.filter import tls_settings as tls
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ACME = {
    "app_tls": "acme",
    "app_server_name": "example.com www.example.com",
    "app_acme_email": "admin@example.com",
    "app_acme_directory_url": "https://acme-v02.api.letsencrypt.org/directory",
}


def self_signed(names, days=30):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def test_plain_http_needs_nothing():
    assert tls.tls_setting_errors({"app_tls": "none", "app_server_name": "_"}) == []


def test_good_acme_settings_pass():
    assert tls.tls_setting_errors(ACME) == []


@pytest.mark.parametrize(("change", "words"), [
    ({"app_server_name": "_"}, ["app_server_name", "host names"]),
    ({"app_server_name": "example.com 203.0.113.7"}, ["IP addresses", "203.0.113.7"]),
    ({"app_server_name": "*.example.com"}, ["wildcard", "HTTP-01"]),
    ({"app_acme_email": "admin.example.com"}, ["app_acme_email", "not an e-mail address"]),
    ({"app_acme_email": ""}, ["app_acme_email"]),
    ({"app_acme_directory_url": "http://ca.example/dir"}, ["app_acme_directory_url", "https"]),
    ({"app_acme_eab_kid": "kid"}, ["app_acme_eab_kid and app_acme_eab_hmac_key"]),
])
def test_bad_acme_settings_are_named(change, words):
    errors = tls.tls_setting_errors({**ACME, **change})
    assert len(errors) == 1, errors
    for word in words:
        assert word in errors[0]


def files_settings(cert, key, names="example.com www.example.com"):
    return {"app_tls": "files", "app_server_name": names, "app_tls_certificate": cert, "app_tls_certificate_key": key}


def test_own_certificate_that_fits_passes():
    cert, key = self_signed(["example.com", "*.example.com"])
    assert tls.tls_setting_errors(files_settings(cert, key)) == []


def test_own_certificate_problems_are_named():
    cert, key = self_signed(["example.com"])
    _, other_key = self_signed(["example.com"])
    assert "app_tls_certificate_key" in tls.tls_setting_errors(files_settings(cert, ""))[0]
    assert "is not the key of" in tls.tls_setting_errors(files_settings(cert, other_key))[0]
    uncovered = tls.tls_setting_errors(files_settings(cert, key))
    assert uncovered == [uncovered[0]] and "does not cover www.example.com" in uncovered[0]
    assert "not a PEM certificate" in tls.tls_setting_errors(files_settings("junk", key, "example.com"))[0]
    old_cert, old_key = self_signed(["example.com"], days=-1)
    assert "expired" in tls.tls_setting_errors(files_settings(old_cert, old_key, "example.com"))[0]


@pytest.mark.parametrize(("pattern", "name", "covered"), [
    ("*.example.com", "www.example.com", True),
    ("*.example.com", "example.com", False),
    ("*.example.com", "a.b.example.com", False),
    ("Example.com", "example.com.", True),
])
def test_wildcard_covers_one_label(pattern, name, covered):
    assert tls._covers(pattern, name) is covered


def test_the_app_roles_filter_runs_these_checks():
    assert tls.app_https_errors(ACME) == []
    assert tls.app_https_errors({**ACME, "app_acme_email": "x"}) == tls.tls_setting_errors({**ACME, "app_acme_email": "x"})
    assert tls.app_https_errors({**ACME, "app_acme_email": "x"})
