"""The acme_certificate module's decisions, on their own (molecule/production runs it against pebble)."""


import pytest
from ansible_collections.flask_vps.stack.plugins.modules import acme_certificate as acme

WANTED = {"domains": ["www.example.com", "example.com"], "server": "https://ca.example/dir", "key_type": "ecdsa"}
FACTS = {"domains": ["example.com", "www.example.com"], "valid": True, "not_after": "Jan  1 00:00:00 2030 GMT"}
RENEWAL = {"server": "https://ca.example/dir", "key_type": "ecdsa"}


def test_matching_lineage_needs_nothing():
    assert acme.mismatch(FACTS, RENEWAL, WANTED) == ""


@pytest.mark.parametrize(("facts", "renewal", "words"), [
    (None, None, "no certificate yet"),
    ({**FACTS, "valid": False}, RENEWAL, "expired"),
    ({**FACTS, "domains": ["example.com"]}, RENEWAL, "host names change from example.com to example.com www.example.com"),
    (FACTS, {**RENEWAL, "server": "https://staging.example/dir"}, "the ACME CA changes"),
    (FACTS, {"server": "https://ca.example/dir"}, "key type changes from rsa to ecdsa"),
])
def test_each_difference_is_named(facts, renewal, words):
    assert words in acme.mismatch(facts, renewal, WANTED)


def test_renewal_conf_is_read_flat(tmp_path):
    conf = tmp_path / "site.conf"
    conf.write_text("version = 4.0.0\narchive_dir = /x\n\n[renewalparams]\nkey_type = ecdsa\nserver = https://ca/dir\n")
    assert acme.read_renewal_conf(conf) == {"version": "4.0.0", "archive_dir": "/x", "key_type": "ecdsa",
                                           "server": "https://ca/dir"}
    assert acme.read_renewal_conf(tmp_path / "missing.conf") is None


def test_certbot_is_asked_for_exactly_the_wanted_lineage():
    argv = acme.certbot_command({
        **WANTED, "name": "site", "email": "", "webroot": "/srv/site/acme", "deploy_hook": "reload",
        "eab_kid": "kid", "eab_hmac_key": "hmac", "config_dir": "/etc/letsencrypt",
    })
    assert argv[:2] == ["certbot", "certonly"]
    assert "--register-unsafely-without-email" in argv
    assert argv[argv.index("--cert-name") + 1] == "site"
    assert argv[argv.index("--deploy-hook") + 1] == "reload"
    assert argv[argv.index("--eab-kid") + 1] == "kid"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-d"] == WANTED["domains"]


def test_certbot_answers_the_challenges_itself_behind_a_load_balancer():
    argv = acme.certbot_command({
        **WANTED, "name": "site", "email": "a@example.com", "webroot": None, "standalone_port": 8402,
        "deploy_hook": "", "eab_kid": "", "config_dir": "/etc/letsencrypt",
    })
    assert "--webroot" not in argv
    i = argv.index("--standalone")
    assert argv[i:i + 5] == ["--standalone", "--http-01-address", "127.0.0.1", "--http-01-port", "8402"]


@pytest.mark.parametrize("spelling", ["Example.com", "example.com."])
def test_names_are_compared_as_certbot_compares_them(spelling):
    """certbot lowercases the names and drops a trailing dot: a certificate it
    issued for Example.com or example.com. covers example.com. Comparing them
    as written ordered a new certificate on every run, until Let's Encrypt
    refused (five a week)."""
    wanted = {**WANTED, "domains": ["www.example.com", spelling]}
    assert acme.mismatch(FACTS, RENEWAL, wanted) == ""
    certificate = {**FACTS, "domains": ["www.example.com", spelling]}
    assert acme.mismatch(certificate, RENEWAL, WANTED) == ""


def test_certbot_is_asked_for_the_names_as_it_would_write_them():
    argv = acme.certbot_command({
        **WANTED, "domains": ["Example.com.", "example.com", "WWW.example.com"], "name": "site", "email": "",
        "webroot": "/srv/site/acme", "deploy_hook": "", "eab_kid": "", "config_dir": "/etc/letsencrypt",
    })
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-d"] == ["example.com", "www.example.com"]


def test_a_moved_deploy_hook_is_written_into_the_renewal_conf(tmp_path):
    """Before: a lineage kept the hook it was first ordered with, so after the
    web front moved every renewal reloaded an nginx that was no longer there."""
    conf = tmp_path / "site.conf"
    conf.write_text("version = 4.0.0\n\n[renewalparams]\nkey_type = ecdsa\n"
                    "renew_hook = docker compose --project-directory /srv/site exec -T nginx nginx -s reload\n"
                    "server = https://ca/dir\n")
    acme.set_renewal_hook(conf, "docker compose --project-directory /srv/web-front exec -T nginx nginx -s reload")
    settings = acme.read_renewal_conf(conf)
    assert settings["renew_hook"] == "docker compose --project-directory /srv/web-front exec -T nginx nginx -s reload"
    assert settings["server"] == "https://ca/dir" and settings["key_type"] == "ecdsa"
    assert conf.read_text().count("renew_hook") == 1
