"""HTTPS as the internet sees it, with the certificate the test ACME CA (pebble) issued."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ACME_ROOT, INTERNET, NAMES, SITE, curl, deploy

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from load import Load
from stack import run_playbook

LIVE = "/etc/letsencrypt/live/flaskapp"
EXTRA = f"shop.{SITE}"  # also pointed at the VPS by the network's DNS


def handshake(internet, name=SITE, args=""):
    """openssl s_client to the site on 443 with this SNI, verifying against the test CA."""
    return internet.run(
        f"echo | timeout 10 openssl s_client -connect {SITE}:443 -servername {name}"
        f" -CAfile {ACME_ROOT} -verify_return_error -verify_hostname {name} {args} 2>&1"
    )


def served_serial(internet):
    return internet.check_output(
        f"echo | openssl s_client -connect {SITE}:443 -servername {SITE} 2>/dev/null | openssl x509 -noout -serial"
    )


# testssl.sh's findings at MEDIUM or above that docs/https.md explains ("What
# testssl.sh still reports"): all three are about pebble's test certificate.
TESTSSL_EXPLAINED = {
    "cert_expirationStatus": "pebble's certificates last 7 days",
    "cert_notAfter": "the same short lifetime",
    "cert_revocation": "pebble's certificates name neither a CRL nor OCSP",
}
TESTSSL_SEVERITIES = ["MEDIUM", "HIGH", "CRITICAL"]


@pytest.fixture(scope="module")
def testssl(internet):
    """testssl.sh 3.2 (Debian 13's `testssl`) against the site by its name,
    trusting pebble's root as a browser trusts Let's Encrypt's: protocols,
    ciphers, forward secrecy, server defaults, headers and vulnerabilities
    (not the client simulation); about 40 s. {id: finding}."""
    report = "/root/testssl.json"
    # Its exit code is not a verdict (it can end non-zero after a complete
    # scan): the report is, and the tests below check that the scan got through.
    scan = internet.run(
        f"rm -f {report} && testssl --quiet --warnings off --color 0 --ip one --add-ca {ACME_ROOT}"
        f" --jsonfile {report} -p -s -f -P -S -h -U {SITE}")
    written = internet.run(f"cat {report}")
    assert written.rc == 0 and written.stdout.strip(), f"testssl wrote no report (exit {scan.rc}): {scan.stdout[-3000:]}"
    return {finding["id"]: finding for finding in json.loads(written.stdout)}


def test_testssl_finds_only_what_the_docs_explain(testssl):
    found = {id_: f"{f['severity']}: {f['finding']}" for id_, f in testssl.items() if f["severity"] in TESTSSL_SEVERITIES}
    assert set(found) <= set(TESTSSL_EXPLAINED), found
    # The scan got through: the handshake, the certificate and the vulnerabilities.
    assert testssl["TLS1_3"]["severity"] == "OK" and testssl["cert_chain_of_trust"]["severity"] == "OK"
    assert "BREACH" in testssl and "ROBOT" in testssl


def test_testssl_finds_no_breach(testssl):
    """Before: "potentially VULNERABLE, gzip HTTP compression detected"
    (MEDIUM): nginx gzipped the app's HTML over HTTPS."""
    assert testssl["BREACH"]["severity"] == "OK", testssl["BREACH"]


@pytest.mark.parametrize("name", NAMES)
def test_certificate_from_the_acme_ca_covers_every_name(internet, name):
    result = handshake(internet, name)
    assert result.rc == 0, result.stdout
    assert "Verify return code: 0 (ok)" in result.stdout
    sans = internet.check_output(
        f"echo | openssl s_client -connect {SITE}:443 -servername {name} 2>/dev/null"
        " | openssl x509 -noout -ext subjectAltName"
    )
    for each in NAMES:
        assert f"DNS:{each}" in sans


def test_unknown_name_gets_no_handshake(internet):
    result = handshake(internet, "not-this-site.example")
    assert result.rc != 0
    assert "CERTIFICATE" not in result.stdout


@pytest.mark.parametrize("version", ["tls1_2", "tls1_3"])
def test_tls_1_2_and_1_3_work(internet, version):
    result = handshake(internet, args=f"-{version}")
    assert result.rc == 0, result.stdout
    assert f"Protocol  : TLSv1.{version[-1]}" in result.stdout or f"TLSv1.{version[-1]}" in result.stdout


@pytest.mark.parametrize("version", ["tls1", "tls1_1"])
def test_tls_1_0_and_1_1_are_refused(internet, version):
    # The client is allowed the old protocol (SECLEVEL 0); a local server
    # that offers it shows the client really can speak it.
    old = f"-{version} -cipher DEFAULT@SECLEVEL=0"
    port = {"tls1": 4410, "tls1_1": 4411}[version]
    control = internet.run(
        "cd /root && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=old"
        " -keyout old.key -out old.crt -days 1 2>/dev/null"
        f" && (timeout 8 openssl s_server -accept {port} -cert old.crt -key old.key {old} -quiet >/dev/null 2>&1 &)"
        f" && sleep 1 && echo | timeout 5 openssl s_client -connect 127.0.0.1:{port} {old} 2>&1"
    )
    assert control.rc == 0 and "Cipher is" in control.stdout, control.stdout
    result = internet.run(f"echo | timeout 10 openssl s_client -connect {SITE}:443 -servername {SITE} {old} 2>&1")
    assert result.rc != 0
    assert "alert protocol version" in result.stdout or "unsupported protocol" in result.stdout, result.stdout


def test_http2_is_negotiated(internet):
    version = internet.check_output(
        f"curl -sS -m 10 --http2 --cacert {ACME_ROOT} -o /dev/null -w '%{{http_version}}' https://{SITE}/"
    )
    assert version == "2"


def test_hsts_on_https_only(internet):
    _, status, headers = curl(internet, "/")
    assert status == 200
    assert headers["strict-transport-security"] == "max-age=63072000"
    _, status, headers = curl(internet, "/", scheme="http")
    assert status == 301
    assert "strict-transport-security" not in headers


@pytest.mark.parametrize("name", NAMES)
def test_http_redirects_to_https_keeping_path_and_query(internet, name):
    out = internet.check_output(
        f"curl -sS -m 10 -o /dev/null -w '%{{http_code}} %{{redirect_url}}' 'http://{name}/some/page?a=1&b=two'"
    )
    assert out == f"301 https://{name}/some/page?a=1&b=two"


def test_acme_challenge_stays_on_plain_http(vps, internet):
    vps.check_output(
        "mkdir -p /srv/flaskapp/acme/.well-known/acme-challenge"
        " && echo token-body > /srv/flaskapp/acme/.well-known/acme-challenge/probe-token"
    )
    try:
        out = internet.check_output(
            f"curl -sS -m 10 -w ' %{{http_code}}' http://{SITE}/.well-known/acme-challenge/probe-token"
        )
    finally:
        vps.check_output("rm -f /srv/flaskapp/acme/.well-known/acme-challenge/probe-token")
    assert out == "token-body\n 200"


def test_certificate_and_account_are_kept_on_the_vps(vps):
    assert vps.file(f"{LIVE}/privkey.pem").exists
    key = vps.file(vps.check_output(f"readlink -f {LIVE}/privkey.pem"))
    assert (key.user, key.mode & 0o077) == ("root", 0)
    assert vps.check_output("ls /etc/letsencrypt/accounts/acme:14000/dir")
    assert vps.service("certbot.timer").is_enabled
    assert vps.service("certbot.timer").is_running


def test_nginx_sees_the_stacks_certificate_and_not_the_acme_account(vps):
    """nginx mounted all of /etc/letsencrypt, the ACME account's key with it."""
    nginx = vps.check_output("docker ps -q --filter label=com.docker.compose.service=nginx")
    assert vps.check_output(f"docker exec {nginx} find /etc/letsencrypt -maxdepth 2 | sort").split() == \
        ["/etc/letsencrypt", "/etc/letsencrypt/archive", "/etc/letsencrypt/archive/flaskapp",
         "/etc/letsencrypt/live", "/etc/letsencrypt/live/flaskapp"]
    assert vps.run(f"docker exec {nginx} test -e /etc/letsencrypt/accounts").rc != 0
    # Its relative symlinks resolve inside the container.
    assert vps.check_output(f"docker exec {nginx} head -c 27 {LIVE}/fullchain.pem") == "-----BEGIN CERTIFICATE-----"


def test_renewal_under_load_serves_the_new_certificate(vps, internet):
    """certbot renews (forced: the test CA's certificates are not due for days) with the
    renewal settings the first run stored; its hook reloads nginx gracefully."""
    before = served_serial(internet)
    # A static file: the app's location is rate-limited per client.
    with Load(INTERNET, url=f"https://{SITE}/static/style.css", cafile=ACME_ROOT, max_seconds=300) as load:
        renew = vps.run("certbot renew --force-renewal --no-random-sleep-on-renew")
        assert renew.rc == 0, renew.stderr
    after = served_serial(internet)
    assert after != before
    result = load.result
    assert result["requests"] > 20
    assert result["failed"] == 0, result
    served = {f"serial={serial}" for serial in result["certificate_serials"]}
    assert {before, after} <= served, result


def test_a_failed_renewal_is_logged_and_the_site_keeps_its_certificate(vps, internet):
    """A renewal the CA does not answer fails loudly (exit status, certbot's log),
    changes nothing served, and the timer stays scheduled to try again."""
    serial = served_serial(internet)
    conf = "/etc/letsencrypt/renewal/flaskapp.conf"
    vps.check_output(f"cp -p {conf} /root/renewal.saved && sed -i 's|^server = .*|server = https://acme:14999/dir|' {conf}")
    try:
        renew = vps.run("certbot renew --force-renewal --no-random-sleep-on-renew")
    finally:
        vps.check_output(f"cp -p /root/renewal.saved {conf}")
    assert renew.rc != 0
    assert "failed" in (renew.stdout + renew.stderr).lower()
    assert "acme:14999" in vps.check_output("tail -n 200 /var/log/letsencrypt/letsencrypt.log")
    assert served_serial(internet) == serial
    assert curl(internet, "/healthz")[1] == 200
    assert vps.service("certbot.timer").is_running
    assert "certbot.timer" in vps.check_output("systemctl list-timers --all certbot.timer")

def test_names_added_then_https_off_then_on_again(vps, internet):
    """A new name gets a certificate covering it on the next run; app_tls none
    goes back to plain HTTP; turning it on again keeps the certificate. On
    the way, the app's answers are gzipped over plain HTTP (no BREACH
    without TLS), and over HTTPS only once app_nginx_gzip_proxied_over_https
    asks for it."""
    names = " ".join([*NAMES, EXTRA])
    deploy(app_server_name=names)
    assert handshake(internet, EXTRA).rc == 0
    covering = served_serial(internet)

    deploy(app_tls="none")
    _, status, headers = curl(internet, "/healthz", scheme="http")
    assert status == 200
    assert "strict-transport-security" not in headers
    assert handshake(internet).rc != 0  # nothing answers TLS on 443
    assert curl(internet, "/", scheme="http", args="-H 'Accept-Encoding: gzip'")[2].get("content-encoding") == "gzip"

    counts = deploy(app_server_name=names, app_nginx_gzip_proxied_over_https=True)
    assert handshake(internet, EXTRA).rc == 0
    assert served_serial(internet) == covering  # kept, not asked for again
    assert counts["failed"] == 0
    assert curl(internet, "/", args="-H 'Accept-Encoding: gzip'")[2].get("content-encoding") == "gzip"
    # Back to the inventory's names for whatever runs next.
    deploy()
    assert handshake(internet, SITE).rc == 0


def test_a_new_release_and_a_rollback_keep_the_certificate(vps, internet):
    serial = served_serial(internet)
    before = vps.check_output("tail -n1 /srv/flaskapp/history").split()[2]
    deploy(app_environment={"TLS_TEST_RELEASE": "1"})  # a setting of the release: a new release
    assert vps.check_output("tail -n1 /srv/flaskapp/history").split()[2] != before
    assert served_serial(internet) == serial
    rc, output = run_playbook("playbooks/rollback.yml")
    assert rc == 0, output[-3000:]
    assert vps.check_output("tail -n1 /srv/flaskapp/history").split()[2] == before
    assert served_serial(internet) == serial


def test_a_ca_that_cannot_be_reached_fails_the_run_and_the_site_keeps_its_certificate(internet):
    serial = served_serial(internet)
    rc, output = run_playbook("site.yml", extra_vars={"app_acme_directory_url": "https://acme:14999/dir"},
                              args=["--tags", "app"])
    assert rc != 0
    assert "certbot could not obtain a certificate" in output and "the ACME CA changes" in output, output[-3000:]
    assert "certbot said:" in output
    assert served_serial(internet) == serial
    assert curl(internet, "/healthz")[1] == 200
    # The next run with the inventory's CA asks nothing and changes nothing.
    assert deploy()["changed"] == 0


def test_own_certificate_is_served_and_its_key_never_shown(vps, internet, tmp_path):
    acme_serial = served_serial(internet)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
         "-subj", f"/CN={SITE}", "-addext", "subjectAltName=" + ",".join(f"DNS:{n}" for n in NAMES),
         "-keyout", str(tmp_path / "own.key"), "-out", str(tmp_path / "own.crt")],
        check=True, capture_output=True)
    cert, key = (tmp_path / "own.crt").read_text(), (tmp_path / "own.key").read_text()
    rc, output = run_playbook("site.yml", args=["--tags", "app", "--diff"], extra_vars={
        "app_tls": "files", "app_tls_certificate": cert, "app_tls_certificate_key": key})
    assert rc == 0, output[-3000:]
    for line in key.splitlines()[1:-1]:
        assert line not in output
    own_serial = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", str(tmp_path / "own.crt")],
                                check=True, capture_output=True, text=True).stdout.strip()
    assert served_serial(internet) == own_serial
    subprocess.run(["docker", "cp", str(tmp_path / "own.crt"), f"{INTERNET}:/root/own.crt"], check=True)
    assert "Verify return code: 0 (ok)" in internet.check_output(
        f"echo | openssl s_client -connect {SITE}:443 -servername {SITE} -CAfile /root/own.crt 2>&1")
    private = vps.file("/srv/flaskapp/tls/privkey.pem")
    assert (private.user, private.mode) == ("root", 0o600)
    assert vps.file("/srv/flaskapp/tls").mode == 0o700
    # Back to ACME: the certificate it had, not a new one.
    deploy()
    assert served_serial(internet) == acme_serial
