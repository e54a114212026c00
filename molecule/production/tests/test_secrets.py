"""The vaulted SECRET_KEY reaches the app, and nowhere else."""

import subprocess

from conftest import LIVE_APP, SCENARIO_DIR, inspect


def test_secret_files_are_root_owned_and_only_the_app_group_reads(vps):
    # Each release keeps its own secrets, in its own directory.
    release = inspect(vps, LIVE_APP)["Config"]["Labels"]["flask-vps.release"]
    directory = vps.file(f"/srv/flaskapp/releases/{release}/secrets")
    assert (directory.uid, directory.gid, directory.mode) == (0, 0, 0o700)
    secret = vps.file(f"/srv/flaskapp/releases/{release}/secrets/secret_key")
    assert (secret.uid, secret.gid, secret.mode) == (0, 10001, 0o440)


def test_app_reads_the_secret_other_users_cannot(vps, secret_key):
    assert vps.check_output(f"docker exec {LIVE_APP} cat /run/secrets/secret_key") == secret_key
    assert vps.run(f"docker exec -u 12345:12345 {LIVE_APP} cat /run/secrets/secret_key").rc != 0


def test_secret_absent_from_docker_inspect(vps, secret_key):
    names = vps.check_output("docker ps -a --format '{{.Names}}'").split()
    output = vps.check_output(f"docker inspect {' '.join(names)}")
    assert "/run/secrets/secret_key" in output  # the mount is there...
    assert secret_key not in output  # ...its content is not
    env = vps.check_output(f"docker exec {LIVE_APP} env")
    assert secret_key not in env


def test_secret_absent_from_the_compose_file(vps, secret_key):
    release = inspect(vps, LIVE_APP)["Config"]["Labels"]["flask-vps.release"]
    compose = vps.file(f"/srv/flaskapp/releases/{release}/compose.yml").content_string
    assert "secrets:" in compose
    assert secret_key not in compose


def test_secret_absent_from_play_output(ephemeral_dir, secret_key):
    log = (ephemeral_dir / "ansible.log").read_text(encoding="utf-8")
    assert "Write the app secrets" in log
    assert secret_key not in log


def test_secret_absent_from_the_repository_in_plain_text(secret_key):
    found = subprocess.run(
        ["git", "grep", "-q", "--fixed-strings", secret_key],
        cwd=SCENARIO_DIR, check=False,
    )
    assert found.returncode == 1
