"""The multi-host layout as its users see it, in order: the first deploy
through the load balancer, a code change rolled out under load, a refused
release that stops the roll, an app host that goes down, rollback, the
status playbook, and the firewall between the hosts. Requests come from the
"internet" container; each host is checked through `docker exec`."""

import json
import re
import subprocess
import time

import pytest
from fleet import (
    CAFILE,
    DB,
    EPHEMERAL,
    INTERNET,
    LB,
    NAME,
    ROOT,
    SITE,
    WEB,
    assert_serves,
    balancer,
    get,
    image_id,
    live_release,
    task_hosts,
    wait_for_status,
    write_note,
)

from load import Load, assert_no_failures
from stack import make_app, run_playbook

EXPIRY = r'"msg": "The certificate expires on \d{4}-\d\d-\d\d \d\d:\d\d UTC: '


def deploy(tmp_path_factory, name, extra_vars=None, **changes):
    """deploy.yml with a changed copy of the app, under load from the internet."""
    src = make_app(tmp_path_factory.mktemp(name) / "app", **changes)
    with Load(INTERNET, url=SITE, cafile=CAFILE) as load:
        rc, output = run_playbook("playbooks/deploy.yml", extra_vars={"app_src": str(src), **(extra_vars or {})})
    return rc, output, load


def write_and_read_a_note(web, internet, text):
    """A note written through the load balancer, read on each app host."""
    note_id = write_note(internet, text)
    for host in web:
        assert get(host, f"http://127.0.0.1/api/notes/{note_id}")["text"] == text


@pytest.fixture(scope="module")
def releases():
    return {}


def test_the_site_answers_through_the_load_balancer_from_both_app_hosts(web, lb, internet, releases):
    releases["first"] = live_release(web[0])
    assert_serves(web, internet, releases["first"], "1.0.0")
    before = balancer(lb)
    for _ in range(10):
        body = get(internet, SITE)
        # nginx on the app host believes the load balancer's X-Forwarded-*.
        assert (body["client"], body["scheme"], body["host"]) == ("10.177.77.20", "https", NAME), body
    after = balancer(lb)
    assert all(after[name][0] == "UP" for name in WEB), after
    assert all(after[name][1] >= before[name][1] + 3 for name in WEB), (before, after)


def test_the_load_balancer_runs_haproxy_and_no_docker(lb):
    assert lb.service("haproxy").is_running
    assert not lb.exists("dockerd")
    assert not lb.package("docker.io").is_installed


def test_the_load_balancer_terminates_tls_and_redirects_plain_http(internet):
    head = internet.check_output(f"curl -sS -m 10 -D- -o /dev/null http://{NAME}/api/client?x=1")
    assert head.startswith("HTTP/1.1 301"), head
    assert re.search(rf"^location: https://{NAME}/api/client\?x=1\r?$", head, re.MULTILINE | re.IGNORECASE), head
    head = internet.check_output(f"curl -sS -m 10 -D- -o /dev/null --cacert {CAFILE} {SITE}")
    assert re.search(r"^strict-transport-security: max-age=63072000\r?$", head, re.MULTILINE | re.IGNORECASE), head
    # TLS 1.2 at least: an older client is refused the handshake.
    assert internet.run(f"curl -sS -m 10 --cacert {CAFILE} --tls-max 1.1 {SITE}").rc != 0


def test_the_app_hosts_share_the_database_on_the_db_host(web, internet):
    write_and_read_a_note(web, internet, "from the internet")
    # No PostgreSQL on the app hosts.
    for host in web:
        assert "postgres" not in host.check_output("docker ps --format '{{.Names}}'")


def test_only_the_load_balancer_answers_the_internet(web, db, lb, internet):
    for port in (80, 443):
        assert internet.run(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{LB}/{port}'").rc == 0, port
    for address in WEB.values():
        assert internet.run(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{address}/80'").rc != 0, address
    assert internet.run(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{DB}/5432'").rc != 0
    # Inside the layout: the load balancer reaches the app hosts, they reach PostgreSQL.
    for address in WEB.values():
        assert lb.run(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{address}/80'").rc == 0, address
    for host in web:
        assert host.run(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{DB}/5432'").rc == 0
    # The load balancer is not an app host and holds no database either.
    assert lb.run(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{DB}/5432'").rc != 0


def test_a_code_change_rolls_out_host_by_host_under_load(tmp_path_factory, web, internet, releases):
    rc, output, load = deploy(tmp_path_factory, "v2", version="2.0.0")
    assert rc == 0, output[-3000:]
    assert_no_failures(load)
    releases["second"] = live_release(web[0])
    assert releases["second"] != releases["first"]
    assert_serves(web, internet, releases["second"], "2.0.0")
    assert load.result["releases"].keys() <= {releases["first"], releases["second"]}, load.result
    # The image is built once, on the first app host, and shipped to the other.
    assert task_hosts(output, "Build the app image", "changed") == {"fleet-web1"}
    assert task_hosts(output, "Load the image", "changed") == {"fleet-web2"}
    # The release command (the migration) runs once per release.
    assert task_hosts(output, "Run the release command", "changed") == {"fleet-web1"}
    # One host at a time: the second switched after the first.
    switched = [host.file(f"{ROOT}/history").content_string.splitlines()[-1].split()[0] for host in web]
    assert switched[0] <= switched[1], switched


def test_a_refused_release_stops_the_roll_on_the_first_host(tmp_path_factory, web, internet, releases):
    """The run also changes postgres_password. Before, the host the stopped
    roll never reached kept serving with the old one: every database request
    failed there."""
    rc, output, load = deploy(tmp_path_factory, "broken", version="3.0.0", healthz_status=500,
                              extra_vars={"postgres_password": "fleetRotatedPassword1fleetRotated"})
    assert rc != 0
    assert "refused" in output
    assert_no_failures(load)
    # The second app host was never touched by the roll: the roll stopped.
    assert task_hosts(output, "Identify the release", "ok") == {"fleet-web1"}
    assert_serves(web, internet, releases["second"], "2.0.0")
    # Both live releases reloaded with the new password before the roll.
    assert task_hosts(output, "Reload the live release with the database's new password", "changed") == set(WEB)
    write_and_read_a_note(web, internet, "after the rotation")


def test_an_app_host_that_stops_answering_is_taken_out_within_seconds(lb, internet):
    # Cut off from the private network: its packets go nowhere, as when a
    # host freezes or loses its link.
    subprocess.run(["docker", "network", "disconnect", "fleet-net", "fleet-web2"], check=True)
    try:
        took = wait_for_status(lb, "fleet-web2", "DOWN")
        print(f"fleet-web2 taken out after {took:.1f} s")
        assert took < 10
        with Load(INTERNET, url=SITE, cafile=CAFILE) as load:
            time.sleep(5)
        assert_no_failures(load)
    finally:
        subprocess.run(["docker", "network", "connect", "--ip", WEB["fleet-web2"], "fleet-net", "fleet-web2"],
                       check=True)
    wait_for_status(lb, "fleet-web2", "UP")


def test_rollback_rolls_back_every_app_host_under_load(web, internet, releases):
    with Load(INTERNET, url=SITE, cafile=CAFILE) as load:
        rc, output = run_playbook("playbooks/rollback.yml")
    assert rc == 0, output[-3000:]
    assert_no_failures(load)
    assert_serves(web, internet, releases["first"], "1.0.0")
    # Deployed before the password changed, given the new one since.
    write_and_read_a_note(web, internet, "after the rollback")


def test_maintenance_mode_on_every_app_host_keeps_them_in_the_load_balancer(web, lb, internet):
    rc, output = run_playbook("playbooks/maintenance.yml", extra_vars={"state": "on"})
    assert rc == 0, output[-3000:]
    try:
        curl = f"curl -sS -m 10 --cacert {CAFILE} -H 'Host: {NAME}'"
        head = internet.check_output(f"{curl} -o /dev/null -D - {SITE}")
        assert re.match(r"HTTP/\S+ 503", head), head
        assert re.search(r"^retry-after: 300\s*$", head, re.MULTILINE | re.IGNORECASE), head
        # The web front's plain page: this inventory has no error pages of its own.
        assert "Down for maintenance" in internet.check_output(f"{curl} {SITE}")
        # Health checks answer: after several check intervals every app host is still in.
        before = balancer(lb)
        time.sleep(5)
        after = balancer(lb)
        assert all(after[name][0] == "UP" for name in WEB), (before, after)
    finally:
        rc, output = run_playbook("playbooks/maintenance.yml", extra_vars={"state": "off"})
    assert rc == 0, output[-3000:]
    assert get(internet, SITE)["scheme"] == "https"


def test_the_load_balancer_serves_an_own_certificate_then_the_acme_one_again(lb, internet):
    own = {"app_tls": "files",
           "app_tls_certificate": f"{{{{ lookup('file', '{EPHEMERAL}/tls/site.crt') }}}}",
           "app_tls_certificate_key": f"{{{{ lookup('file', '{EPHEMERAL}/tls/site.key') }}}}"}
    rc, output = run_playbook("playbooks/deploy.yml", extra_vars=own, args=["--limit", "fleet-lb"])
    assert rc == 0, output[-3000:]
    # Every deploy shows the served certificate's expiry (prepare.yml's own: 5
    # of its 30 days left, a warning).
    assert re.search(EXPIRY.replace('"msg": "', '"msg": "WARNING: ') + r"(4|5) days left", output), output[-3000:]
    # The alerts' check sends that it expires soon (backup_notify_command: the journal).
    key = "certificate:/etc/haproxy/tls/site.pem"
    since = lb.check_output("date '+%Y-%m-%d %H:%M:%S'")
    lb.check_output("flask-vps-alert check")
    assert f"{key} failed on fleet-lb" in lb.check_output(f"journalctl -q -t flask-vps-alert --since '{since}'")
    assert key in json.loads(lb.check_output("flask-vps-alert list"))
    subprocess.run(["docker", "cp", str(EPHEMERAL / "tls" / "site.crt"), f"{INTERNET}:/root/site.crt"], check=True)
    assert internet.run(f"curl -sS -m 10 --fail --cacert /root/site.crt {SITE}").rc == 0
    assert internet.run(f"curl -sS -m 10 --cacert {CAFILE} {SITE}").rc != 0
    # Back to ACME: the certificate certbot already has, no new one.
    rc, output = run_playbook("playbooks/deploy.yml", args=["--limit", "fleet-lb"])
    assert rc == 0, output[-3000:]
    assert task_hosts(output, "Obtain the certificate when the names, the CA or the key type change", "ok") == {"fleet-lb"}
    assert re.search(EXPIRY + r"\d+ days left", output), output[-3000:]
    assert get(internet, SITE)["scheme"] == "https"
    assert internet.run(f"curl -sS -m 10 --cacert /root/site.crt {SITE}").rc != 0
    # certbot's certificate has years left: the alert is over.
    lb.check_output("flask-vps-alert check")
    assert key not in json.loads(lb.check_output("flask-vps-alert list"))


def test_status_shows_each_host_release_health_image_and_the_balancer_view(web, releases):
    rc, output = run_playbook("playbooks/status.yml")
    assert rc == 0, output[-3000:]
    assert re.findall(r"changed=(\d+)", output) == ["0"] * 4, output[-3000:]
    for host, name in zip(web, WEB):
        image = image_id(host, releases["first"])
        line = f'"msg": "release {releases["first"]}, health 200, image {image}, maintenance off"'
        assert re.search(rf"ok: \[{name}\] => \{{\s*{re.escape(line)}", output), output[-3000:]
        assert re.search(rf"{name} \({WEB[name]}:80\): UP", output), output[-3000:]
