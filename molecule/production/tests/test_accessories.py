"""What runs next to the releases. PostgreSQL: private, hardened, its
password known to the app alone, its data kept by releases and rollbacks,
never restarted by them, another major version refused before anything
changes. A worker process: the release's image, secrets and data, no port,
started and stopped with its release."""

import json
import re
import shlex
import time

import pytest

from conftest import (
    LIVE_APP,
    inspect,
    read_note,
    rows,
    run_playbook,
    tcp_open,
    write_note,
)

POSTGRES = "flaskapp-postgres"
# postgres_password as the tests below change it.
ROTATED = ("rotatedPassword1rotatedPassword1", "rotatedPassword2rotatedPassword2")
DIRECTORY = "/srv/flaskapp/postgres"
SNAPSHOTS = "/srv/flaskapp/snapshots"
# A release command that migrates, as Alembic would: alembic_version 0002.
MIGRATING = "flask --app wsgi init-db --schema-version 0002"


@pytest.fixture(scope="module")
def password(vps):
    value = vps.check_output(f"cat {DIRECTORY}/password")
    assert len(value) == 32
    return value


def started_at(vps):
    return inspect(vps, POSTGRES)["State"]["StartedAt"]


def live_release(vps):
    return vps.check_output("tail -n1 /srv/flaskapp/history").split()[2]


def snapshot_record(vps, release):
    return json.loads(vps.check_output(f"cat {SNAPSHOTS}/{release}/snapshot.json"))


def ledger(vps):
    return [json.loads(line) for line in vps.check_output("cat /srv/flaskapp/ledger.jsonl").splitlines()]


def kept_copies(vps):
    """The copies of the database that rollbacks with data kept."""
    return vps.run(f"ls -d {SNAPSHOTS}/before-rollback-*").stdout.split()


def assert_no_rehearsal_left(vps):
    """The rehearsal's throwaway PostgreSQL and network are gone."""
    assert vps.check_output("docker ps -aq --filter name=flaskapp-rehearsal") == ""
    assert vps.run("docker network inspect flaskapp-rehearsal").rc != 0


def psql(sql):
    return f"docker exec {POSTGRES} psql -tA -U app -d app -c {shlex.quote(sql)}"


def worker_containers(vps):
    return vps.check_output("docker ps -a --filter label=flask-vps.worker --format '{{.Names}} {{.State}}'").splitlines()


def heartbeat(vps):
    """The worker's last heartbeat, once it is from the live release."""
    release = live_release(vps)
    for _ in range(30):
        beat = json.loads(vps.check_output("cat /srv/flaskapp/data/worker-heartbeat.json"))
        if beat["release"] == release and time.time() - beat["time"] < 10:
            return beat
        time.sleep(1)
    pytest.fail(f"no fresh heartbeat from release {release}: {beat}")


def test_healthy_on_the_stack_network_only(vps, internet):
    info = inspect(vps, POSTGRES)
    assert info["State"]["Health"]["Status"] == "healthy"
    assert not info["HostConfig"]["PortBindings"]
    assert list(info["NetworkSettings"]["Networks"]) == ["flaskapp"]
    assert "postgres" in info["NetworkSettings"]["Networks"]["flaskapp"]["Aliases"]
    assert ":5432" not in vps.check_output("ss -ltnH")
    assert not tcp_open(internet, 5432)


def test_hardened_like_the_app(vps):
    info = inspect(vps, POSTGRES)
    assert info["Config"]["User"] == "999:999"
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert info["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in info["HostConfig"]["SecurityOpt"]
    assert info["HostConfig"]["Memory"] == 512 * 1024 * 1024
    assert info["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    data = vps.file(f"{DIRECTORY}/data")
    assert (data.uid, data.gid, data.mode) == (999, 999, 0o700)
    assert vps.file(f"{DIRECTORY}/data/PG_VERSION").content_string.strip() == "17"


def test_password_file_is_for_root_and_the_server_only(vps, password):
    """Its group was gid 999, the server's own, which on the Debian VPS is
    systemd-journal: every reader of the journal could read the password.
    Now a system group of its own, which only the server's container gets."""
    secret = vps.file(f"{DIRECTORY}/password")
    assert (secret.user, secret.group, secret.mode) == ("root", "flaskapp-postgres-password", 0o440)
    assert vps.group("systemd-journal").gid != secret.gid
    assert vps.check_output(f"getent group {secret.gid}").split(":")[3] == ""  # no host user is in it
    assert inspect(vps, POSTGRES)["HostConfig"]["GroupAdd"] == [str(secret.gid)]


def test_the_app_gets_the_connection_string_as_a_secret_file(vps, password):
    url = vps.check_output(f"docker exec {LIVE_APP} cat /run/secrets/database_url")
    assert url == f"postgresql://app:{password}@postgres:5432/app"
    assert vps.run(f"docker exec -u 12345:12345 {LIVE_APP} cat /run/secrets/database_url").rc != 0


def test_the_password_is_never_shown(vps, ephemeral_dir, password):
    log = (ephemeral_dir / "ansible.log").read_text(encoding="utf-8")
    assert "Hand the app its connection string" in log
    assert password not in log
    names = vps.check_output("docker ps -a --format '{{.Names}}'").split()
    assert password not in vps.check_output(f"docker inspect {' '.join(names)}")
    assert password not in vps.check_output(f"docker exec {LIVE_APP} env")
    # Every file that holds it is readable by its owner and group only.
    holders = vps.run(f"grep -rlsF -- {shlex.quote(password)} /srv /etc /var/log /tmp /home /root").stdout.split()
    assert f"{DIRECTORY}/password" in holders
    for path in holders:
        assert vps.file(path).mode & 0o004 == 0, path


def test_the_release_is_ready_only_once_it_reaches_the_database(vps):
    """app_readiness_path=/readyz (SELECT 1 in the sample app) is what Docker's
    health check, and so the deploy's gate, asks."""
    probe = " ".join(inspect(vps, LIVE_APP)["Config"]["Healthcheck"]["Test"])
    assert "GET /readyz HTTP/1.1" in probe
    assert '"GET /readyz HTTP/1.1" 200' in vps.check_output(f"docker logs --tail 50 {LIVE_APP} 2>&1")


def test_notes_written_through_the_site_are_rows_in_postgres(vps, internet):
    note_id = write_note(internet, "first note")
    assert read_note(internet, note_id) == "first note"
    assert f"{note_id}|first note" in rows(vps).splitlines()


def test_the_worker_runs_the_live_release_with_its_secrets_and_data(vps):
    release = live_release(vps)
    assert worker_containers(vps) == [f"flaskapp-worker-{release}-heartbeat running"]
    worker = inspect(vps, f"flaskapp-worker-{release}-heartbeat")
    assert worker["Config"]["Image"] == inspect(vps, LIVE_APP)["Config"]["Image"]
    assert not worker["HostConfig"]["PortBindings"]
    assert worker["Config"]["User"] == "10001:10001"
    assert worker["HostConfig"]["ReadonlyRootfs"] is True
    assert heartbeat(vps)["secrets"] == ["database_url", "secret_key"]


def test_a_release_and_a_rollback_keep_the_data_leave_postgres_running_and_move_the_worker(vps, internet):
    """The release also changes postgres_password. Before, the rollback went
    live with the old password (kept in the release's own secrets): /healthz
    passed and every database request failed. Its release command migrates
    (alembic_version 0002), after a snapshot of the database; the code-only
    rollback warns that the schema is newer than the code."""
    started, note_id = started_at(vps), write_note(internet, "before the release")
    before = live_release(vps)
    rc, output = run_playbook("site.yml", extra_vars={  # a new release, its command rehearsed first
        "app_environment": {"POSTGRES_TEST_RELEASE": "1"}, "postgres_password": ROTATED[0],
        "app_release_command": MIGRATING, "app_release_command_rehearsal": True}, args=["--tags", "app"])
    assert rc == 0, output[-3000:]
    after = live_release(vps)
    assert after != before
    assert re.search(rf"Rehearsal of release {after}'s release command on a copy of the database \(restored in "
                     r"[0-9.]+ s\): passed in [0-9.]+ s", output), output[-3000:]
    assert_no_rehearsal_left(vps)
    # The snapshot taken before its release command: root's alone, recorded.
    assert vps.check_output(f"stat -c '%U %a' {SNAPSHOTS} {SNAPSHOTS}/{after} {SNAPSHOTS}/{after}/postgres.dump"
                            f" {SNAPSHOTS}/{after}/snapshot.json").splitlines() == [
        "root 700", "root 700", "root 600", "root 600"]
    record = snapshot_record(vps, after)
    assert (record["release"], record["live"], record["migration"], record["migration_after"]) == (
        after, before, None, "0002")
    entry = [e for e in ledger(vps) if e["action"] == "deploy" and e["release"] == after][-1]
    assert entry["snapshot"] == {"time": record["time"], "migration": None, "migration_after": "0002"}
    # The release it replaced got the new connection string too.
    assert f":{ROTATED[0]}@" in vps.check_output(f"cat /srv/flaskapp/releases/{before}/secrets/database_url")
    assert read_note(internet, note_id) == "before the release"
    assert worker_containers(vps) == [f"flaskapp-worker-{after}-heartbeat running"]
    assert heartbeat(vps)["release"] == after
    later_id = write_note(internet, "from the new release")
    rc, output = run_playbook("playbooks/rollback.yml")
    assert rc == 0, output[-3000:]
    assert (f"WARNING: The database of flaskapp is at migration 0002, newer than release {before}'s code, which ran "
            "with migration none") in output and f"-e with_data=true -e confirm={after}" in output, output[-3000:]
    assert live_release(vps) == before
    assert read_note(internet, later_id) == "from the new release"
    assert worker_containers(vps) == [f"flaskapp-worker-{before}-heartbeat running"]
    assert heartbeat(vps)["release"] == before
    assert started_at(vps) == started
    assert read_note(internet, write_note(internet, "after the rollback")) == "after the rollback"


def test_a_rollback_with_data_puts_the_database_back_as_it_was_before_the_migration(vps, internet):
    """The release of the test above is live again (a code-only rollback to
    it: its schema matches, no warning). A rollback with data is refused
    without the confirmation, changing nothing; with it, the database goes
    back to the snapshot taken before that release's release command."""
    # The test above went from `before` to `after` and back.
    before, after = (line.split()[2] for line in vps.check_output("tail -n2 /srv/flaskapp/history").splitlines()[::-1])
    assert live_release(vps) == before and snapshot_record(vps, after)["live"] == before
    rc, output = run_playbook("playbooks/rollback.yml", extra_vars={"release": after})
    assert rc == 0 and "WARNING: The database" not in output, output[-3000:]
    assert live_release(vps) == after
    started = started_at(vps)
    assert read_note(internet, write_note(internet, "after the snapshot")) == "after the snapshot"
    table, kept_before = rows(vps), kept_copies(vps)

    rc, output = run_playbook("playbooks/rollback.yml", extra_vars={"with_data": True})
    assert rc != 0
    assert "Rollback with data refused: writes since " in output and " ago) will be lost" in output, output[-3000:]
    assert f"add -e confirm={after} (the release rolled back from). Nothing was changed." in output, output[-3000:]
    assert live_release(vps) == after and rows(vps) == table and started_at(vps) == started
    assert kept_copies(vps) == kept_before

    rc, output = run_playbook("playbooks/rollback.yml", extra_vars={"with_data": True, "confirm": after})
    assert rc == 0, output[-3000:]
    assert live_release(vps) == before
    texts = [line.split("|", 1)[1] for line in rows(vps).splitlines()]
    assert "before the release" in texts
    assert "from the new release" not in texts and "after the snapshot" not in texts
    assert vps.check_output(psql("SELECT to_regclass('alembic_version') IS NULL")) == "t"
    assert read_note(internet, write_note(internet, "after the data went back")) == "after the data went back"
    assert started_at(vps) == started
    # The database as it was is kept aside, root's alone.
    [kept] = [path for path in kept_copies(vps) if path not in kept_before]
    assert vps.check_output(f"stat -c '%U %a' {kept} {kept}/postgres.dump").splitlines() == ["root 700", "root 600"]
    assert "after the snapshot" in vps.check_output(
        f"docker exec -i {POSTGRES} pg_restore --data-only --file=- < {kept}/postgres.dump")
    assert ledger(vps)[-1]["data"]["kept"] == kept
    assert heartbeat(vps)["release"] == before


def test_a_release_command_that_fails_its_rehearsal_never_touches_the_live_database(vps, internet):
    """It migrates, then fails: on the throwaway copy only."""
    live, table = live_release(vps), rows(vps)
    failing = ["sh", "-c", "flask --app wsgi init-db --schema-version 0003 && echo 'half-way through 0003' && exit 3"]
    rc, output = run_playbook("site.yml", extra_vars={"app_release_command": failing,
                                                      "app_release_command_rehearsal": True}, args=["--tags", "app"])
    assert rc != 0
    assert ("its release command failed its rehearsal on a copy of the database, exit code 3; the live database "
            "was not touched") in output and "half-way through 0003" in output, output[-3000:]
    assert live_release(vps) == live and rows(vps) == table
    assert vps.check_output(psql("SELECT to_regclass('alembic_version') IS NULL")) == "t"
    assert_no_rehearsal_left(vps)
    assert read_note(internet, write_note(internet, "served throughout")) == "served throughout"


def test_a_worker_that_cannot_start_refuses_the_release(vps, internet):
    """The refused run also changes postgres_password. Before, the live
    release kept serving with the old one: every database request failed."""
    live = live_release(vps)
    broken = {"name": "broken", "command": ["python3", "-c", "import sys; print('no queue here'); sys.exit(3)"]}
    heartbeat_worker = {"name": "heartbeat", "command": "flask --app wsgi worker",
                        "healthcheck": "flask --app wsgi worker --check"}
    rc, output = run_playbook("site.yml", extra_vars={"app_workers": [heartbeat_worker, broken],
                                                      "postgres_password": ROTATED[1]}, args=["--tags", "app"])
    assert rc != 0
    assert "its worker broken is not running" in output and "no queue here" in output, output[-3000:]
    assert live_release(vps) == live
    assert worker_containers(vps) == [f"flaskapp-worker-{live}-heartbeat running"]
    assert read_note(internet, write_note(internet, "served throughout")) == "served throughout"
    # The live release reloaded with the new password, its worker restarted with it.
    assert "Reload the live release with the database's new password" in output
    assert heartbeat(vps)["release"] == live


def test_another_major_version_is_refused_before_any_change(vps, internet):
    started, compose = started_at(vps), vps.file(f"{DIRECTORY}/compose.yml").sha256sum
    rc, output = run_playbook("site.yml", extra_vars={"postgres_version": "16"}, args=["--tags", "app"])
    assert rc != 0
    assert "holds the data of PostgreSQL 17" in output and "Nothing was changed" in output, output[-3000:]
    assert started_at(vps) == started
    assert vps.file(f"{DIRECTORY}/compose.yml").sha256sum == compose
    assert read_note(internet, write_note(internet, "still here")) == "still here"
