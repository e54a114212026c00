"""release_secret: after postgres_password changes, every kept release gets
the new connection string (before, a rollback went live with the old one),
in place, so the live release's mount sees it; other secrets and releases
without it are left alone."""

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.flask_vps.stack.plugins.modules import release_secret


def release(root, name, **secrets):
    directory = root / "releases" / name / "secrets"
    directory.mkdir(parents=True)
    for key, value in secrets.items():
        (directory / key).write_text(value)
        (directory / key).chmod(0o440)
    return directory


def run(root, capsys, check_mode=False, content="postgresql://app:new@postgres/app"):
    args = {"releases_dir": str(root / "releases"), "name": "database_url", "content": content,
            "current": str(root / "current"), "_ansible_check_mode": check_mode}
    with patch_module_args(args), pytest.raises(SystemExit):
        release_secret.main()
    return json.loads(capsys.readouterr().out)


def test_every_kept_release_gets_the_new_connection_string_in_place(tmp_path, capsys):
    old = release(tmp_path, "aaa", database_url="postgresql://app:old@postgres/app", secret_key="k1")
    live = release(tmp_path, "bbb", database_url="postgresql://app:old@postgres/app", secret_key="k2")
    release(tmp_path, "ccc", database_url="postgresql://app:new@postgres/app")
    release(tmp_path, "sqlite", secret_key="k3")
    (tmp_path / "current").symlink_to("releases/bbb")
    inode = (live / "database_url").stat().st_ino

    result = run(tmp_path, capsys)

    assert result["changed"] is True
    assert result["rewritten"] == ["aaa", "bbb"]
    assert result["live"] == "bbb"
    for directory in (old, live):
        assert (directory / "database_url").read_text() == "postgresql://app:new@postgres/app"
        assert (directory / "database_url").stat().st_mode & 0o777 == 0o440
    # The same file: a running container's bind mount shows the new value.
    assert (live / "database_url").stat().st_ino == inode
    assert (old / "secret_key").read_text() == "k1"
    assert not (tmp_path / "releases" / "sqlite" / "database_url").exists()


def test_a_rerun_changes_nothing(tmp_path, capsys):
    release(tmp_path, "aaa", database_url="postgresql://app:new@postgres/app")
    result = run(tmp_path, capsys)
    assert (result["changed"], result["rewritten"], result["live"]) == (False, [], "")


def test_check_mode_reports_without_writing(tmp_path, capsys):
    directory = release(tmp_path, "aaa", database_url="old")
    result = run(tmp_path, capsys, check_mode=True)
    assert (result["changed"], result["rewritten"]) == (True, ["aaa"])
    assert (directory / "database_url").read_text() == "old"


def test_no_releases_yet(tmp_path, capsys):
    result = run(tmp_path, capsys)
    assert (result["changed"], result["rewritten"], result["live"]) == (False, [], "")


def test_the_value_is_never_in_the_output(tmp_path, capsys):
    release(tmp_path, "aaa", database_url="old")
    result = run(tmp_path, capsys, content="postgresql://app:s3cret@postgres/app")
    assert "s3cret" not in json.dumps(result)
    assert os.path.exists(tmp_path / "releases" / "aaa" / "secrets" / "database_url")
