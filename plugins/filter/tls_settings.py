"""The app role's HTTPS checks: what is wrong with the TLS settings, in words.

`tls_setting_errors(settings)` takes the app's settings (variable name ->
value) and returns one message per problem, each naming the variable and
what is allowed; an empty list means HTTPS can be set up as asked. The app
role's validate entry point runs it (the filter `app_https_errors`) on the
controller, before anything on the VPS changes; preflight reports it."""

import datetime
import ipaddress
import re

from ansible_collections.flask_vps.stack.plugins.module_utils.role_checks import (
    role_checks,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization

# Good enough to catch typos; the CA has the last word.
EMAIL_RE = re.compile(r"^[^@\s]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}$")


def _is_ip(name):
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _covers(pattern, name):
    """A certificate name covers a host name (one wildcard label, leftmost)."""
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        return "." in name and name.split(".", 1)[1] == pattern[2:]
    return pattern == name


def _pem_errors(settings, names):
    """The own certificate and key: readable, matching, covering, valid."""
    cert_text = str(settings.get("app_tls_certificate") or "").strip()
    key_text = str(settings.get("app_tls_certificate_key") or "").strip()
    missing = [n for n, v in (("app_tls_certificate", cert_text), ("app_tls_certificate_key", key_text)) if not v]
    if missing:
        return [(f"{' and '.join(missing)} must hold the PEM text with app_tls=files "
                 "(e.g. \"{{ lookup('file', 'tls/site.crt') }}\", the key from the vault)")]
    try:
        cert = x509.load_pem_x509_certificate(cert_text.encode())
    except ValueError as err:
        return [f"app_tls_certificate is not a PEM certificate ({err})"]
    try:
        key = serialization.load_pem_private_key(key_text.encode(), password=None)
    except (ValueError, TypeError) as err:
        return [f"app_tls_certificate_key is not an unencrypted PEM private key ({err})"]
    errors = []
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, public):
        errors.append("app_tls_certificate_key is not the key of app_tls_certificate "
                      f"(subject {cert.subject.rfc4514_string()})")
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        sans = []
    uncovered = [n for n in names if not any(_covers(san, n) for san in sans)]
    if uncovered:
        errors.append(f"app_tls_certificate does not cover {' '.join(uncovered)} of app_server_name "
                      f"(it names: {' '.join(sans) or 'no DNS names'})")
    if cert.not_valid_after_utc < datetime.datetime.now(datetime.UTC):
        errors.append(f"app_tls_certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    return errors


def tls_setting_errors(settings):
    mode = settings.get("app_tls", "none")
    if mode == "none":
        return []
    names = str(settings.get("app_server_name", "_")).split()
    if names in ([], ["_"]):
        return [(f"app_tls={mode} needs the site's host names in app_server_name (got: "
                 f"{settings.get('app_server_name', '_')!r}): allowed are host names DNS points at this VPS, "
                 "e.g. \"example.com www.example.com\"")]
    errors = []
    ips = [n for n in names if _is_ip(n)]
    if ips:
        errors.append(f"app_server_name holds IP addresses ({' '.join(ips)}), which get no certificate "
                      f"with app_tls={mode}: allowed are host names")
    if "_" in names:
        errors.append("app_server_name mixes _ with host names: with HTTPS, name every host")
    if mode == "files":
        return errors + _pem_errors(settings, [n for n in names if n not in ips and n != "_"])

    wildcards = [n for n in names if n.startswith("*.")]
    if wildcards:
        errors.append(f"app_server_name holds wildcard names ({' '.join(wildcards)}): the ACME HTTP-01 "
                      "challenge cannot prove them; allowed are plain host names, or app_tls=files with a "
                      "wildcard certificate")
    email = str(settings.get("app_acme_email") or "")
    if not EMAIL_RE.match(email):
        errors.append(f"app_acme_email={email!r} is not an e-mail address: allowed is the address the CA "
                      "writes to about expiry and policy, e.g. admin@example.com")
    url = str(settings.get("app_acme_directory_url") or "")
    if not re.match(r"^https://[^/\s]+", url):
        errors.append(f"app_acme_directory_url={url!r} is not an https URL: allowed is the CA's ACME "
                      "directory over https, e.g. https://acme-v02.api.letsencrypt.org/directory")
    if bool(settings.get("app_acme_eab_kid")) != bool(settings.get("app_acme_eab_hmac_key")):
        errors.append("app_acme_eab_kid and app_acme_eab_hmac_key go together: set both (the CA's external "
                      "account binding) or neither")
    return errors


# The app role's validate entry point runs these on its settings.
app_https_errors = role_checks("app", tls_setting_errors)


class FilterModule:
    def filters(self):
        return {"app_https_errors": app_https_errors}
