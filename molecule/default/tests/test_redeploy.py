"""Redeploys under load, in order: code change, dependency change, refused
releases, rollback, one-off command, persistent data. Each step runs the real
playbooks against the VPS while clients inside it hit port 80. Runs after
test_fresh_vps.py, which leaves the first release live."""

import contextlib
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from load import Load, assert_no_failures
from stack import finish_playbook, make_app, recap, run_playbook, start_playbook

CONTAINER = "flask-vps-default"
ROOT = "/srv/flaskapp"
# The host's web front (nginx for every app of the VPS).
FRONT = "/srv/web-front"
MARKER = f"{ROOT}/data/written-before-the-deploys.txt"


def http_json(host, port, path="/api/client"):
    out = host.check_output(f"curl -sS -D- http://127.0.0.1:{port}{path}")
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    return head, json.loads(body)


def history(host):
    return [line.split() for line in host.file(f"{ROOT}/history").content_string.splitlines()]


def live_release(host):
    return history(host)[-1][2]


def app_containers(host):
    return host.check_output("docker ps -a --filter label=flask-vps.app=flaskapp --format '{{.Names}}'").split()


def assert_serves(host, release, version):
    for port in (80, 8000):
        head, body = http_json(host, port)
        assert body["release"] == release, (port, body)
        assert body["version"] == version, (port, body)
        server = "nginx" if port == 80 else "gunicorn"
        assert re.search(rf"^Server: {server}", head, re.MULTILINE | re.IGNORECASE), head
    assert app_containers(host) == [f"flaskapp-app-{release}"]


def secret(host, release):
    return host.check_output(f"docker exec flaskapp-app-{release} cat /run/secrets/secret_key")


def deploy(tmp_path_factory, name, extra=None, **changes):
    src = make_app(tmp_path_factory.mktemp(name) / "app", **changes)
    extra_vars = {"app_src": str(src), **(extra or {})}
    with Load(CONTAINER) as load:
        rc, output = run_playbook("playbooks/deploy.yml", extra_vars=extra_vars)
    load.src = src
    return rc, output, load


@pytest.fixture(scope="module")
def releases():
    """Release ids by name, filled in as the steps run."""
    return {}


def test_first_deploy_is_live_on_both_ports(host, releases):
    releases["first"] = live_release(host)
    assert_serves(host, releases["first"], "1.0.0")
    # The release command created the schema before the release went live.
    assert http_json(host, 80, "/api/notes")[1] == {"count": 0}
    # A file in the data directory, written as the app's user before any redeploy.
    host.check_output(f"printf 'keep me' > {MARKER} && chown 10001:10001 {MARKER}")


def test_code_change_switches_without_a_failed_request(host, tmp_path_factory, releases):
    rc, output, load = deploy(tmp_path_factory, "code", version="2.0.0")
    assert rc == 0, output
    releases["code"] = live_release(host)
    assert releases["code"] != releases["first"]
    assert f"Deploying release {releases['code']}" in output
    assert_no_failures(load)
    # The load saw the old release, then the new one.
    assert set(load.result["releases"]) == {releases["first"], releases["code"]}
    assert_serves(host, releases["code"], "2.0.0")
    assert [entry[1:] for entry in history(host)[-2:]] == [
        ["deploy", releases["first"]], ["deploy", releases["code"]]]
    # Deploying the same code again changes and restarts nothing.
    started = host.check_output(f"docker inspect -f '{{{{.State.StartedAt}}}}' flaskapp-app-{releases['code']}")
    rc, output = run_playbook("playbooks/deploy.yml", extra_vars={"app_src": str(load.src)})
    assert rc == 0, output
    assert recap(output)["changed"] == 0, output
    assert host.check_output(f"docker inspect -f '{{{{.State.StartedAt}}}}' flaskapp-app-{releases['code']}") == started


def test_private_files_of_the_source_are_never_pushed(host, tmp_path_factory, releases):
    src = make_app(tmp_path_factory.mktemp("private") / "app", version="2.0.0")
    (src / ".env").write_text("SECRET=from-dotenv\n")
    (src / ".git").mkdir()
    (src / ".git" / "config").write_text("[core]\n")
    (src / "instance").mkdir()
    (src / "instance" / "local.db").write_text("local data")
    rc, output = run_playbook("playbooks/deploy.yml", extra_vars={"app_src": str(src)})
    assert rc == 0, output
    # Not pushed, so not part of the release: the same release, nothing changed.
    assert recap(output)["changed"] == 0, output
    assert live_release(host) == releases["code"]
    files = host.check_output(f"docker exec flaskapp-app-{releases['code']} ls -A /app").split()
    assert "wsgi.py" in files
    assert not {".env", ".git", "tests"} & set(files), files
    # In the running release /app/instance is the VPS's own instance folder
    # (mounted): the local one is in neither the container nor the image.
    instance = host.check_output(f"docker exec flaskapp-app-{releases['code']} ls -A /app/instance").split()
    assert "local.db" not in instance, instance
    image_files = host.check_output(f"docker run --rm --network none flaskapp-app:{releases['code']} ls -A /app").split()
    assert "wsgi.py" in image_files
    assert not {".env", ".git", "instance", "tests"} & set(image_files), image_files
    # The build context on the VPS is root's alone; static files are public.
    release_dir = f"{ROOT}/releases/{releases['code']}"
    assert host.file(f"{release_dir}/src").mode == 0o700
    assert host.file(f"{release_dir}/static/style.css").mode == 0o644
    assert not host.file(f"{release_dir}/src/.env").exists


def test_environment_values_reach_the_app_literally(host, releases):
    greeting = host.check_output(f"docker exec flaskapp-app-{releases['code']} printenv GREETING")
    assert greeting == "pa$word and $$ and ${HOME}"


def test_dependency_change_builds_a_new_image_without_a_failed_request(host, tmp_path_factory, releases):
    rc, output, load = deploy(
        tmp_path_factory, "deps", version="3.0.0", requirements=["six==1.17.0"],
        extra={"app_keep_releases": 2, "app_secrets": {"secret_key": "redeploy-secret-2"}})
    assert rc == 0, output
    releases["deps"] = live_release(host)
    releases["deps_src"] = load.src
    assert_no_failures(load)
    assert_serves(host, releases["deps"], "3.0.0")
    host.check_output(f"docker exec flaskapp-app-{releases['deps']} python -c 'import six'")
    # Only the last two releases are kept: the first one is pruned.
    kept = host.check_output(f"ls {ROOT}/releases").split()
    assert sorted(kept) == sorted([releases["code"], releases["deps"]])
    images = host.check_output("docker images flaskapp-app --format '{{.Tag}}'").split()
    assert sorted(images) == sorted(kept)
    assert secret(host, releases["deps"]) == "redeploy-secret-2"


def test_config_nginx_refuses_never_replaces_the_live_one(host, tmp_path_factory, releases):
    """A value `nginx -t` rejects fails the run, twice, while the live release
    keeps serving; the next good run cleans up the release that never went live."""
    bad = {"app_keep_releases": 2, "app_secrets": {"secret_key": "redeploy-secret-2"},
           "app_nginx_client_max_body_size": "10MB"}
    src = make_app(tmp_path_factory.mktemp("bad-nginx") / "app", version="4.0.0")
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    with Load(CONTAINER) as load:
        for _ in range(2):
            rc, output = run_playbook("playbooks/deploy.yml", extra_vars={"app_src": str(src), **bad})
            assert rc != 0, output
            assert "nginx refused the new configuration" in output
            assert '"client_max_body_size" directive invalid value' in output
    assert_no_failures(load)
    assert set(load.result["releases"]) == {releases["deps"]}
    assert live_release(host) == releases["deps"]
    # The live configuration is still the one nginx serves, and no tree
    # nginx refused is left to be laid over by the next run.
    assert "10MB" not in host.check_output(f"cat {FRONT}/nginx/live/sites/flaskapp.conf")
    assert not host.file(f"{FRONT}/nginx/candidate").exists
    good = {key: value for key, value in bad.items() if key != "app_nginx_client_max_body_size"}
    with Load(CONTAINER) as load:
        rc, output = run_playbook("playbooks/deploy.yml", extra_vars={"app_src": str(load_src(releases)), **good})
    assert rc == 0, output
    assert_no_failures(load)
    assert_serves(host, releases["deps"], "3.0.0")
    # The failed deploys sent one alert (host_vars: alerts_notify_command), the good one its recovery.
    alerts = host.check_output(f"journalctl --no-pager -o cat --since '{since}' -t flask-vps-alert")
    failed = [line for line in alerts.splitlines() if line.startswith("firing deploy:flaskapp: ")]
    assert len(failed) == 1, alerts
    assert 'the deploy failed at "' in failed[0] and "nginx refused the new configuration" in failed[0], failed
    assert "What to do: The site still serves the release it served before" in failed[0]
    assert alerts.count("recovered deploy:flaskapp: ") == 1, alerts


def load_src(releases):
    return releases["deps_src"]


def refused(host, tmp_path_factory, name, reason, extra=None, **changes):
    rc, output, load = deploy(tmp_path_factory, name, extra=extra, version="4.0.0", **changes)
    assert rc != 0, output
    release = re.search(r"Deploying release (\w+)", output).group(1)
    assert f"Release {release} of flaskapp refused: {reason}" in output
    assert f"The live release {live_release(host)} keeps serving." in output
    assert_no_failures(load)
    # Nothing of the refused release runs; the previous one serves untouched.
    assert all(release not in name for name in app_containers(host))
    return output, load


def test_release_that_fails_to_import_is_refused(host, tmp_path_factory, releases):
    output, load = refused(host, tmp_path_factory, "broken", "its container crashed on start",
                           extra={"app_release_command": []}, broken_import=True)
    assert "ModuleNotFoundError: No module named 'no_such_module'" in output
    assert set(load.result["releases"]) == {releases["deps"]}
    assert_serves(host, releases["deps"], "3.0.0")


def test_release_whose_release_command_fails_is_refused(host, tmp_path_factory, releases):
    output, _ = refused(host, tmp_path_factory, "broken-command", "its release command failed",
                           broken_import=True)
    assert "No module named 'no_such_module'" in output
    assert_serves(host, releases["deps"], "3.0.0")


def test_release_failing_its_health_check_is_refused(host, tmp_path_factory, releases):
    output, load = refused(host, tmp_path_factory, "unhealthy", "its health check on /healthz did not pass",
                           extra={"app_secrets": {"secret_key": "redeploy-secret-3"}}, healthz_status=500)
    # The app's access log shows the failing checks.
    assert '"GET /healthz HTTP/1.1" 500' in output
    assert set(load.result["releases"]) == {releases["deps"]}
    assert_serves(host, releases["deps"], "3.0.0")
    # The refused release had a new secret: the live one still reads its own,
    # also after a restart.
    host.check_output(f"docker restart flaskapp-app-{releases['deps']}")
    assert secret(host, releases["deps"]) == "redeploy-secret-2"
    host.check_output("timeout 60 sh -c 'until curl -sf http://127.0.0.1/healthz; do sleep 0.5; done'")


def test_rollback_returns_to_the_previous_release_without_a_failed_request(host, releases):
    images_before = host.check_output("docker images -q --no-trunc flaskapp-app | sort -u")
    with Load(CONTAINER) as load:
        rc, output = run_playbook("playbooks/rollback.yml")
    assert rc == 0, output
    assert_no_failures(load)
    assert set(load.result["releases"]) == {releases["deps"], releases["code"]}
    assert_serves(host, releases["code"], "2.0.0")
    assert history(host)[-1][1:] == ["rollback", releases["code"]]
    # The release runs with the secret it was deployed with.
    assert secret(host, releases["code"]) == "redeploy-secret-1"
    # Nothing was rebuilt.
    assert host.check_output("docker images -q --no-trunc flaskapp-app | sort -u") == images_before


def test_rollback_to_a_named_release(host, releases):
    with Load(CONTAINER) as load:
        rc, output = run_playbook("playbooks/rollback.yml", extra_vars={"release": releases["deps"]})
    assert rc == 0, output
    assert_no_failures(load)
    assert_serves(host, releases["deps"], "3.0.0")
    # Rolling back to a pruned release is refused and changes nothing.
    rc, output = run_playbook("playbooks/rollback.yml", extra_vars={"release": releases["first"]})
    assert rc != 0
    assert f"Release {releases['first']} of flaskapp is not on the VPS" in output
    assert_serves(host, releases["deps"], "3.0.0")


def test_the_ledger_has_every_switch_and_failure_and_names_what_changed_never_the_values(host, releases):
    text = host.file(f"{ROOT}/ledger.jsonl").content_string
    entries = [json.loads(line) for line in text.splitlines()]
    # A line per switch, as the history has them; a rerun that switched nothing wrote none.
    assert [(e["action"], e["release"]) for e in entries if e["result"] == "ok"] == \
        [tuple(line[1:]) for line in history(host)]
    deploys = [e for e in entries if e["action"] == "deploy" and e["result"] == "ok"]
    assert all(e["image"].startswith("sha256:") and len(e["source"]) == 64 and "@" in e["controller"]
               for e in deploys), deploys
    # The dependency release: new files and a new secret (redeploy-secret-2).
    assert [e["changed"] for e in deploys if e["release"] == releases["deps"]] == [["secret.secret_key", "source"]]
    # The refused release with a new secret: its name, not its value.
    [unhealthy] = [e for e in entries if "its health check on /healthz did not pass" in e.get("error", "")]
    assert unhealthy["result"] == "failed" and "secret.secret_key" in unhealthy["changed"]
    assert "redeploy-secret" not in text and "pa$word" not in text
    assert host.file(f"{ROOT}/ledger.jsonl").mode == 0o640
    # playbooks/status.yml shows the last entries.
    rc, output = run_playbook("playbooks/status.yml")
    assert rc == 0, output[-3000:]
    assert f"rollback ok release {releases['deps']}" in output, output[-3000:]


def test_one_off_command_runs_in_the_live_release(host):
    rc, output = run_playbook("playbooks/run.yml", extra_vars={"cmd": "flask --app wsgi add-note 'written by a one-off command'"})
    assert rc == 0, output
    assert "notes: 1" in output
    assert http_json(host, 80, "/api/notes")[1] == {"count": 1}
    rc, output = run_playbook("playbooks/run.yml", extra_vars={"cmd": "python -c 'import six; print(six.__version__)'"})
    assert rc == 0 and "1.17.0" in output, output
    # A failing command fails the play and shows its exit code.
    rc, output = run_playbook("playbooks/run.yml", extra_vars={"cmd": "false"})
    assert rc != 0
    assert "exited with code 1" in output


def test_nginx_follows_the_live_release_when_its_container_restarts(host, releases):
    """A restarted container may get another address, taken meanwhile by
    another container on the stack's network: nginx must still reach the
    live release."""
    live = f"flaskapp-app-{releases['deps']}"
    host.check_output(f"docker stop {live}")
    image = f"flaskapp-app:{releases['code']}"
    host.check_output(f"docker run -d --rm --name intruder --network flaskapp {image} sleep 300")
    try:
        host.check_output(f"docker start {live}")
        host.check_output("timeout 60 sh -c 'until curl -sf http://127.0.0.1/healthz; do sleep 0.5; done'")
        for port in (80, 8000):
            assert http_json(host, port)[1]["release"] == releases["deps"]
    finally:
        host.run("docker rm -f intruder")


def test_check_mode_reports_a_new_release_and_changes_nothing(host, tmp_path_factory, releases):
    src = make_app(tmp_path_factory.mktemp("check") / "app", version="5.0.0")
    rc, output = run_playbook("playbooks/deploy.yml", extra_vars={"app_src": str(src)}, args=["--check", "--diff"])
    assert rc == 0, output
    assert re.search(r"Check mode: would deploy\s+release \w+", output), output
    # The run went on to the end instead of stopping at the new release.
    assert "TASK [app : Prune old releases]" in output or "Prune old releases" in output
    assert live_release(host) == releases["deps"]
    assert_serves(host, releases["deps"], "3.0.0")


def test_two_deploys_at_once_one_waits_for_the_lock_or_fails_naming_its_holder(host, tmp_path_factory, releases):
    sources = [make_app(tmp_path_factory.mktemp(f"lock{n}") / "app", version=f"6.{n}.0") for n in range(2)]
    with Load(CONTAINER) as load:
        runs = [start_playbook("playbooks/deploy.yml", extra_vars={"app_src": str(src), "app_lock_timeout": 5})
                for src in sources]
        results = [finish_playbook(run) for run in runs]
    assert_no_failures(load)
    assert sorted(rc == 0 for rc, _ in results) == [False, True], results
    winner = next(n for n, (rc, _) in enumerate(results) if rc == 0)
    loser_output = results[1 - winner][1]
    assert "The stack is locked by" in loser_output and "since" in loser_output
    assert "(app_lock_timeout)" in loser_output
    # One coherent release: the winner's, alone, on both ports.
    assert_serves(host, live_release(host), f"6.{winner}.0")
    assert not host.file(f"{ROOT}/deploy.lock").exists
    releases["locked"] = live_release(host)
    releases["locked_src"] = sources[winner]


def test_a_lock_left_by_a_killed_run_is_taken_over(host, releases):
    extra = {"app_src": str(releases["locked_src"])}
    with Load(CONTAINER) as load:
        run = start_playbook("playbooks/deploy.yml", extra_vars=extra)
        host.check_output(f"timeout 120 sh -c 'until [ -s {ROOT}/deploy.lock/holder.json ]; do sleep 0.2; done'")
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        reap(run.args)
        assert host.file(f"{ROOT}/deploy.lock").exists
        rc, output = run_playbook("playbooks/deploy.yml", extra_vars=extra)
    assert rc == 0, output
    assert "Took over the deploy lock left by" in output and "that run is gone" in output
    assert_no_failures(load)
    assert live_release(host) == releases["locked"]
    assert app_containers(host) == [f"flaskapp-app-{releases['locked']}"]
    assert not host.file(f"{ROOT}/deploy.lock").exists


def test_a_lock_held_elsewhere_is_respected_and_released_by_hand(host, releases):
    holder = {"user": "ci", "controller": "ci-runner", "play": "Deploy the Flask stack", "pid": 4242,
              "since": "2026-01-01T00:00:00Z", "token": "elsewhere"}
    host.check_output(f"mkdir {ROOT}/deploy.lock && echo '{json.dumps(holder)}' > {ROOT}/deploy.lock/holder.json")
    try:
        rc, output = run_playbook("playbooks/deploy.yml",
                                  extra_vars={"app_src": str(releases["locked_src"]), "app_lock_timeout": 3})
        assert rc != 0
        assert "The stack is locked by ci@ci-runner running 'Deploy the Flask stack' (process 4242)" in output
        # Provisioning (it restarts Docker, reloads the firewall) waits for it too.
        rc, output = run_playbook("playbooks/provision.yml", extra_vars={"app_lock_timeout": 3})
        assert rc != 0
        assert "The stack is locked by ci@ci-runner running 'Deploy the Flask stack'" in output
        rc, output = run_playbook("playbooks/unlock.yml")
        assert rc == 0, output
        assert "Released the deploy lock held by ci@ci-runner" in output
        assert not host.file(f"{ROOT}/deploy.lock").exists
    finally:
        # A failed assertion must not leave the planted lock to the tests after.
        host.run(f"rm -rf {ROOT}/deploy.lock")


# Where a deploy is killed, in its order: the task that has just begun and
# how long after it began.
KILL_PHASES = [
    ("after the source push", "TASK [app : Build the app image]", 0),
    ("during the build", "TASK [app : Build the app image]", 1.5),
    ("while the new release starts", "TASK [app : Wait until the release is healthy]", 0),
    ("right after nginx is switched", "TASK [app : Add the switch to the release history]", 0),
    ("while the old release stops", "TASK [app : Stop the releases that are not live]", 0),
    ("during pruning", "TASK [app : Remove old release images]", 0),
]
# Every phase once, the signals taking turns: Ctrl-C (ansible-playbook
# interrupts itself and its connections), then the process group lost at once
# (SIGKILL: during the build, right after the switch, during pruning). Each
# run starts from what the kill before it left.
KILL_POINTS = [(*phase, sig) for phase, sig in zip(KILL_PHASES, itertools.cycle((signal.SIGINT, signal.SIGKILL)))]


def kill_when(run, marker, delay, sig):
    """Read the run's output until `marker`, then signal its whole process group
    (ansible-playbook and its connections), as a terminal's Ctrl-C or a lost
    laptop would. Returns the output up to the kill."""
    seen = []
    for line in run.stdout:
        seen.append(line)
        if line.startswith(marker):
            break
    else:
        pytest.fail(f"the run ended before {marker!r}:\n{''.join(seen)[-3000:]}")
    time.sleep(delay)
    os.killpg(run.pid, sig)
    try:
        run.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
    reap(run.args)
    return "".join(seen)


def reap(argv):
    """End what a killed run leaves on the controller: Mitogen's connection
    process ignores Ctrl-C, and a helper it forked into a session of its own
    outlives a SIGKILL of the run's group (docs/releases.md). Both carry the
    run's own arguments (after the interpreter its #! line added)."""
    program, *args = (str(arg).encode() for arg in argv)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            words = (proc / "cmdline").read_bytes().split(b"\0")[:-1]
            head, tail = words[:len(words) - len(args)], words[len(words) - len(args):]
            if tail == args and any(word.endswith(program) for word in head):
                os.kill(int(proc.name), signal.SIGKILL)


def serves_one_release(host):
    """Both ports answer with the same release, whole: never a mix, never nothing."""
    served = {http_json(host, port)[1]["release"] for port in (80, 8000)}
    assert len(served) == 1, served
    return served.pop()


def test_a_deploy_killed_at_any_step_leaves_the_site_serving_and_the_next_run_finishes(
        host, tmp_path_factory, releases):
    """Each run deploys new code and is killed at the same step as the run
    before it or one step later, so every run also finishes what the killed
    one left."""
    live = live_release(host)
    with Load(CONTAINER) as load:
        for n, (where, marker, delay, sig) in enumerate(KILL_POINTS):
            src = make_app(tmp_path_factory.mktemp(f"kill{n}") / "app", version=f"7.{n}.0")
            # Keep 2 releases, so every run has old ones to prune.
            extra = {"app_src": str(src), "app_keep_releases": 2}
            output = kill_when(start_playbook("playbooks/deploy.yml", extra_vars=extra), marker, delay, sig)
            new = re.search(r"Deploying release (\w+)", output)
            served = serves_one_release(host)
            # The release served before this run, or this run's own.
            assert served in {live, new and new[1]}, (where, sig.name, served, output[-2000:])
            live = served
        # The next run of the last source completes; the one after changes nothing.
        rc, output = run_playbook("playbooks/deploy.yml", extra_vars=extra)
        assert rc == 0, output
    assert_no_failures(load)
    final = live_release(host)
    assert http_json(host, 80)[1]["version"] == f"7.{len(KILL_POINTS) - 1}.0"
    assert serves_one_release(host) == final
    assert app_containers(host) == [f"flaskapp-app-{final}"]
    # Nothing half-done is left: no partial unpack, no lock, only kept releases.
    assert host.check_output(f"find {ROOT}/releases -maxdepth 2 -name '*.partial'") == ""
    assert not host.file(f"{ROOT}/deploy.lock").exists
    assert len(host.check_output(f"ls {ROOT}/releases").split()) <= 2
    rc, output = run_playbook("playbooks/deploy.yml", extra_vars=extra)
    assert rc == 0, output
    assert recap(output)["changed"] == 0, output
    releases["killed"] = final


def test_a_new_app_user_gets_the_data(host, releases):
    """Changing app_uid/app_gid hands the data over to the new user, and back."""
    settings = {"app_src": str(releases["deps_src"]), "app_keep_releases": 2,
                "app_secrets": {"secret_key": "redeploy-secret-2"}}
    for uid in (10002, 10001):
        rc, output = run_playbook("playbooks/deploy.yml", extra_vars={**settings, "app_uid": uid, "app_gid": uid})
        assert rc == 0, output
        for path in (f"{ROOT}/data", f"{ROOT}/data/app.db", MARKER):
            assert (host.file(path).uid, host.file(path).gid) == (uid, uid), path
        assert http_json(host, 80, "/api/notes")[1] == {"count": 1}


def test_data_written_before_the_deploys_is_still_there(host):
    marker = host.file(MARKER)
    assert marker.exists
    assert marker.content_string == "keep me"
    # What the app wrote in its instance folder (test_fresh_vps.py) too.
    assert host.file(f"{ROOT}/data/instance/written-by-the-app").content_string == "mine\n"
    assert host.file(f"{ROOT}/data/app.db").uid == 10001
    assert http_json(host, 80, "/api/notes")[1] == {"count": 1}


# Flask's tutorial app (flaskr), from Flask's own source release on PyPI.
FLASK_SDIST = ("flask==3.1.3", "flask-3.1.3.tar.gz",
               "0ef0e52b8a9cd932855379197dd8f94047b359ca0a78695144304cb45f87c9eb")


def flask_tutorial(dest):
    """flaskr as Flask ships it, with only what the README asks of an app:
    requirements with gunicorn and a Dockerfile (the sample app's)."""
    requirement, name, sha256 = FLASK_SDIST
    downloads = dest.parent / "sdist"
    # The base interpreter's pip (the virtualenv has none), as `make venv` uses.
    subprocess.run([str(Path(sys.base_prefix, "bin", "python3")), "-m", "pip", "download", "--quiet", "--no-deps",
                    "--no-binary", ":all:", "--dest", str(downloads), requirement], check=True)
    archive = downloads / name
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == sha256
    with tarfile.open(archive) as sdist:
        sdist.extractall(downloads, filter="data")
    shutil.copytree(downloads / name.removesuffix(".tar.gz") / "examples" / "tutorial", dest)
    shutil.copy(Path(__file__).parents[3] / "files" / "app" / "Dockerfile", dest)
    (dest / "requirements.txt").write_text("Flask==3.1.3\ngunicorn==27.0.1\n", encoding="utf-8")
    return dest


def test_flasks_tutorial_app_deploys_keeps_its_database_in_the_instance_folder_and_rolls_back(
        host, tmp_path_factory):
    """Flask's tutorial creates its instance folder at start and keeps its
    SQLite database there: on a read-only container it starts only because
    the release mounts the instance folder (app_instance_path)."""
    before = live_release(host)
    src = flask_tutorial(tmp_path_factory.mktemp("tutorial") / "flaskr")
    rc, output = run_playbook("playbooks/deploy.yml", extra_vars={
        "app_src": str(src),
        "app_wsgi_target": "flaskr:create_app()",
        "app_static_dir": "flaskr/static",
        "app_release_command": "flask --app flaskr init-db",
        "app_healthcheck_path": "/hello",
        "app_instance_files": {"config.py": 'SECRET_KEY = "tutorial-secret"\n'},
    })
    assert rc == 0, output[-3000:]
    assert live_release(host) != before
    database = host.file(f"{ROOT}/data/instance/flaskr.sqlite")
    assert (database.exists, database.uid) == (True, 10001)
    jar = "/tmp/tutorial-cookies"
    curl = f"curl -sS -b {jar} -c {jar} -o /dev/null -w '%{{http_code}} %{{redirect_url}}' http://127.0.0.1"
    try:
        assert host.check_output(f"{curl}/auth/register -d username=ada -d password=pw") \
            == "302 http://127.0.0.1/auth/login"
        assert host.check_output(f"{curl}/auth/login -d username=ada -d password=pw") == "302 http://127.0.0.1/"
        page = host.check_output(f"curl -sS -b {jar} http://127.0.0.1/")
        assert "<span>ada</span>" in page and "Log Out" in page
        assert host.check_output("curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1/static/style.css") \
            == "200"
    finally:
        host.run(f"rm -f {jar}")
    # Back to the sample app: the release before, as it was.
    rc, output = run_playbook("playbooks/rollback.yml")
    assert rc == 0, output[-3000:]
    assert live_release(host) == before
    assert http_json(host, 80, "/api/notes")[1] == {"count": 1}
