"""What a deploy says about the served certificate's expiry: ok, warn or fail."""

from datetime import UTC, datetime, timedelta

# certbot renews 30 days before expiry: under 21 days left, its renewals
# have been failing for more than a week; under 7, the site is days from
# an outage that HSTS turns into a hard one (browsers offer no way past it).
WARN = timedelta(days=21)
FAIL = timedelta(days=7)
# A short-lived certificate (Let's Encrypt's 6-day profile, a test CA's)
# is renewed well within its shorter life: warn with a third of it left,
# fail with a tenth (for 90 days, 21 and 7 days stay the limits).
WARN_SHARE = 3
FAIL_SHARE = 10

ASN1_TIME = "%Y%m%d%H%M%SZ"  # x509_certificate_info's not_before and not_after


def _time(value):
    return datetime.strptime(value, ASN1_TIME).replace(tzinfo=UTC)


def certificate_expiry(not_after, not_before=None, allow_expiring=False, override="",
                       hint="Renew or replace it.", now=None):
    """{state: ok | warn | fail, expires, days_left, msg} for a certificate
    valid from `not_before` until `not_after` (ASN.1 times, 20270101000000Z).
    `fail` becomes `warn` with `allow_expiring`; `override` names the
    variable that allows it and `hint` what to do, for the message."""
    expires = _time(not_after)
    now = now or datetime.now(UTC)
    left = expires - now
    warn_at, fail_at = WARN, FAIL
    if not_before:
        lifetime = expires - _time(not_before)
        warn_at, fail_at = min(WARN, lifetime / WARN_SHARE), min(FAIL, lifetime / FAIL_SHARE)
    line = (f"The certificate expires on {expires:%Y-%m-%d %H:%M} UTC: "
            + (f"{left.days} days left." if left > timedelta(0) else "it has EXPIRED."))
    result = {"state": "ok", "expires": f"{expires:%Y-%m-%d}", "days_left": left.days, "msg": line}
    if left >= warn_at:
        return result
    advice = hint
    if left < fail_at and not allow_expiring:
        result["state"] = "fail"
        advice += f" To deploy anyway, set {override or 'the allow-expiring variable'}: true."
    else:
        result["state"] = "warn"
    result["msg"] = f"WARNING: {line} {advice}"
    return result


class FilterModule:
    def filters(self):
        return {"certificate_expiry": certificate_expiry}
