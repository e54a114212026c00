#!/usr/bin/python
"""Keep one certbot certificate ("lineage") matching the wanted settings.

certbot itself obtains and renews; this module only decides whether the
lineage on the VPS still matches what the inventory asks for (the host names,
the ACME CA, the key type), and asks certbot for a new certificate when it
does not. A rerun with nothing changed never contacts the CA, and a
certificate that is merely due for renewal is left to certbot's own timer.
"""

import os
import re
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: acme_certificate
short_description: Obtain a certificate with certbot when the one on the host no longer matches
options:
  name:
    description: certbot's certificate name (its --cert-name).
    type: str
    required: true
  domains:
    description: >-
      Host names the certificate must cover, exactly; compared as certbot writes them, in lower case
      and without a trailing dot.
    type: list
    elements: str
    required: true
  server:
    description: ACME directory URL.
    type: str
    required: true
  email:
    description: ACME account e-mail.
    type: str
    default: ""
  key_type:
    description: certbot's --key-type (ecdsa or rsa).
    type: str
    default: ecdsa
  webroot:
    description: Directory whose .well-known/acme-challenge/ nginx serves on port 80.
    type: path
  standalone_port:
    description: >-
      Instead of a webroot, certbot answers the challenges itself on 127.0.0.1 at this port, to which
      the load balancer passes /.well-known/acme-challenge/ (HAProxy serves no files).
    type: int
  deploy_hook:
    description: Command certbot runs after each new certificate (reloads nginx).
    type: str
    default: ""
  eab_kid:
    description: External account binding key id (ZeroSSL, some corporate CAs).
    type: str
    default: ""
  eab_hmac_key:
    description: External account binding HMAC key.
    type: str
    default: ""
  config_dir:
    description: certbot's configuration directory.
    type: path
    default: /etc/letsencrypt
  obtain:
    description: Ask certbot for a certificate when the lineage does not match; false only reports.
    type: bool
    default: true
"""

RETURN = r"""
usable:
  description: A certificate and key exist and the certificate has not expired (nginx can serve it).
  type: bool
current:
  description: The certificate matches every wanted setting (after this task).
  type: bool
reason:
  description: Why a new certificate was (or would be) asked for; empty when current.
  type: str
serial:
  description: Serial number of the certificate on the host.
  type: str
not_after:
  description: Expiry of the certificate on the host (openssl's notAfter text).
  type: str
"""


def read_renewal_conf(path):
    """certbot's renewal/<name>.conf as a flat dict (its sections are not needed)."""
    settings = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                key, sep, value = line.partition("=")
                if sep and not line.startswith("["):
                    settings.setdefault(key.strip(), value.strip())
    except FileNotFoundError:
        return None
    return settings


def certificate_facts(module, cert_path):
    """Serial, expiry, SAN host names and whether it is still valid, from openssl."""
    if not os.path.exists(cert_path):
        return None
    out = subprocess.run(
        ["openssl", "x509", "-in", cert_path, "-noout", "-serial", "-enddate", "-ext", "subjectAltName"],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        module.fail_json(msg=f"openssl cannot read {cert_path}: {out.stderr.strip()}")
    valid = subprocess.run(
        ["openssl", "x509", "-in", cert_path, "-noout", "-checkend", "0"],
        capture_output=True, text=True, check=False,
    ).returncode == 0
    return {
        "serial": (re.search(r"^serial=(\S+)", out.stdout, re.MULTILINE) or [None, ""])[1],
        "not_after": (re.search(r"^notAfter=(.+)$", out.stdout, re.MULTILINE) or [None, ""])[1],
        "domains": sorted(set(re.findall(r"DNS:([^,\s]+)", out.stdout))),
        "valid": valid,
    }


def certbot_names(names):
    """The host names as certbot writes them, in the order given, each once:
    in lower case and without a trailing dot (an IDNA name stays as given).
    Compared as written, Example.com or example.com. never matched the
    certificate certbot had issued for them, and every run ordered another."""
    return list(dict.fromkeys(name.lower().removesuffix(".") for name in names))


def mismatch(facts, renewal, params):
    """Why the lineage does not match the wanted settings, or '' when it does."""
    if facts is None or renewal is None:
        return "no certificate yet"
    if not facts["valid"]:
        return f"the certificate expired on {facts['not_after']}"
    wanted = sorted(certbot_names(params["domains"]))
    covered = sorted(certbot_names(facts["domains"]))
    if covered != wanted:
        return f"host names change from {' '.join(covered)} to {' '.join(wanted)}"
    if renewal.get("server") != params["server"]:
        return f"the ACME CA changes from {renewal.get('server')} to {params['server']}"
    if renewal.get("key_type", "rsa") != params["key_type"]:
        return f"the key type changes from {renewal.get('key_type', 'rsa')} to {params['key_type']}"
    return ""


def set_renewal_hook(path, hook):
    """Make the lineage's renewals run this deploy hook (certbot keeps
    --deploy-hook as renew_hook). An upgrade that moves the service the hook
    reloads would otherwise leave every renewal reloading nothing."""
    with open(path, encoding="utf-8") as handle:
        lines = [line for line in handle if line.partition("=")[0].strip() != "renew_hook"]
    section = next(i for i, line in enumerate(lines) if line.strip() == "[renewalparams]")
    lines.insert(section + 1, f"renew_hook = {hook}\n")
    with open(f"{path}.tmp", "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    os.replace(f"{path}.tmp", path)


def certbot_command(params):
    argv = [
        "certbot", "certonly", "--non-interactive", "--agree-tos", "--no-eff-email",
        "--cert-name", params["name"], "--server", params["server"],
        "--key-type", params["key_type"],
        *(["--standalone", "--http-01-address", "127.0.0.1", "--http-01-port", str(params["standalone_port"])]
          if params.get("standalone_port") else ["--webroot", "--webroot-path", params["webroot"]]),
        "--config-dir", params["config_dir"],
        # Only called when the lineage must change: never "not yet due".
        "--force-renewal",
    ]
    argv += ["--email", params["email"]] if params["email"] else ["--register-unsafely-without-email"]
    if params["deploy_hook"]:
        argv += ["--deploy-hook", params["deploy_hook"]]
    if params["eab_kid"]:
        argv += ["--eab-kid", params["eab_kid"], "--eab-hmac-key", params["eab_hmac_key"]]
    for domain in certbot_names(params["domains"]):
        argv += ["-d", domain]
    return argv


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "domains": {"type": "list", "elements": "str", "required": True},
            "server": {"type": "str", "required": True},
            "email": {"type": "str", "default": ""},
            "key_type": {"type": "str", "default": "ecdsa", "choices": ["ecdsa", "rsa"]},
            "webroot": {"type": "path"},
            "standalone_port": {"type": "int"},
            "deploy_hook": {"type": "str", "default": ""},
            "eab_kid": {"type": "str", "default": ""},
            "eab_hmac_key": {"type": "str", "default": "", "no_log": True},
            "config_dir": {"type": "path", "default": "/etc/letsencrypt"},
            "obtain": {"type": "bool", "default": True},
        },
        required_if=[("obtain", True, ["webroot", "standalone_port"], True)],
        mutually_exclusive=[("webroot", "standalone_port")],
        supports_check_mode=True,
    )
    params = module.params
    live = os.path.join(params["config_dir"], "live", params["name"])
    renewal_conf = os.path.join(params["config_dir"], "renewal", params["name"] + ".conf")

    facts = certificate_facts(module, os.path.join(live, "cert.pem"))
    renewal = read_renewal_conf(renewal_conf)
    reason = mismatch(facts, renewal, params)
    usable = bool(facts and facts["valid"] and os.path.exists(os.path.join(live, "privkey.pem")))
    result = {"changed": False, "usable": usable, "current": not reason, "reason": reason,
              "serial": (facts or {}).get("serial", ""), "not_after": (facts or {}).get("not_after", "")}

    if not reason and params["obtain"] and params["deploy_hook"] \
            and renewal.get("renew_hook", "") != params["deploy_hook"]:
        if not module.check_mode:
            set_renewal_hook(renewal_conf, params["deploy_hook"])
        module.exit_json(**dict(result, changed=True, hook=params["deploy_hook"]))
    if not reason or not params["obtain"]:
        module.exit_json(**result)
    if module.check_mode:
        module.exit_json(**dict(result, changed=True))

    started = time.monotonic()
    run = subprocess.run(certbot_command(params), capture_output=True, text=True, check=False)
    if run.returncode != 0:
        # certbot's own words carry the CA's error (rate limit, refused name, unreachable).
        module.fail_json(
            msg=f"certbot could not obtain a certificate for {' '.join(params['domains'])} "
                f"from {params['server']} ({reason}); the site keeps the certificate it has. "
                f"certbot said: {(run.stderr or run.stdout).strip()}",
            **result,
        )
    facts = certificate_facts(module, os.path.join(live, "cert.pem"))
    module.exit_json(**dict(
        result, changed=True, usable=True, current=True,
        serial=facts["serial"], not_after=facts["not_after"],
        seconds=round(time.monotonic() - started, 1),
    ))


if __name__ == "__main__":
    main()
