"""nginx_switch: digest, atomic promotion, pruning, and that nothing nginx
refuses goes live, whether nginx runs or not."""

import json
import os
import subprocess

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.flask_vps.stack.plugins.modules import nginx_switch


def stage(root, app_conf):
    staged = root / "staged" / "conf.d"
    staged.mkdir(parents=True, exist_ok=True)
    (root / "staged" / "nginx.conf").write_text("include conf.d/*.conf;\n")
    (staged / "app.conf").write_text(app_conf)
    return nginx_switch.tree_digest(root / "staged")


def test_digest_follows_content_not_times(tmp_path):
    first = stage(tmp_path, "upstream a")
    os.utime(tmp_path / "staged" / "nginx.conf", (0, 0))
    assert nginx_switch.tree_digest(tmp_path / "staged") == first
    assert stage(tmp_path, "upstream b") != first


def test_promotion_swaps_a_whole_tree_and_prunes_the_rest(tmp_path):
    (tmp_path / "configs").mkdir()
    old = stage(tmp_path, "upstream old")
    nginx_switch.point_live_at(str(tmp_path), old)
    new = stage(tmp_path, "upstream new")
    nginx_switch.point_live_at(str(tmp_path), new)
    live = tmp_path / "live"
    assert live.is_symlink() and os.readlink(live) == f"configs/{new}"
    assert (live / "conf.d" / "app.conf").read_text() == "upstream new"
    # The old tree is still whole (it is the previous one) until pruned.
    assert (tmp_path / "configs" / old / "conf.d" / "app.conf").read_text() == "upstream old"
    (tmp_path / "configs" / "stale").mkdir()
    (tmp_path / "configs" / f"{new}.partial").mkdir()  # left by a killed run
    nginx_switch.prune_configs(str(tmp_path), {new, old})
    assert sorted(os.listdir(tmp_path / "configs")) == sorted([new, old])


def test_served_marker_is_written_whole(tmp_path):
    path = tmp_path / "served"
    nginx_switch.write_atomically(str(path), "abc\n")
    assert nginx_switch.read(str(path)) == "abc"
    assert nginx_switch.read(str(tmp_path / "missing")) == ""
    assert not (tmp_path / "served.tmp").exists()


class FakeDocker:
    """subprocess.run for `docker compose`: nginx's service is running or
    not, and `nginx -t` accepts the configuration or not."""

    def __init__(self, running, config_ok):
        self.running, self.config_ok, self.calls = running, config_ok, []

    def __call__(self, argv, **kwargs):
        self.calls.append(argv)
        if "-t" in argv:
            ok = self.config_ok and (self.running or "run" in argv)
            return subprocess.CompletedProcess(argv, 0 if ok else 1, "", "" if ok else 'nginx: [emerg] unknown directive "bogus"')
        if "exec" in argv:
            return subprocess.CompletedProcess(argv, 0 if self.running else 1, "", "" if self.running else "service is not running")
        return subprocess.CompletedProcess(argv, 1, "", "unexpected command")


def run_module(tmp_path, monkeypatch, capsys, docker):
    stage(tmp_path, "bogus;" if not docker.config_ok else "upstream app {}")
    monkeypatch.setattr(nginx_switch.subprocess, "run", docker)
    args = {"root": str(tmp_path), "container_root": "/etc/nginx/app", "project_dir": str(tmp_path)}
    with patch_module_args(args), pytest.raises(SystemExit):
        nginx_switch.main()
    return json.loads(capsys.readouterr().out)


def test_a_refused_config_never_goes_live_when_nginx_is_not_running(tmp_path, monkeypatch, capsys):
    """Before: with nginx stopped (first deploy, or nginx down) the staged
    configuration was made live untested, and nginx then failed to start on
    it. Now a one-off container of the service runs `nginx -t` first."""
    docker = FakeDocker(running=False, config_ok=False)
    result = run_module(tmp_path, monkeypatch, capsys, docker)
    assert result.get("failed") and "nginx refused the new configuration" in result["msg"]
    assert "unknown directive" in result["msg"]
    assert not (tmp_path / "live").exists()
    tests = [argv for argv in docker.calls if "-t" in argv]
    assert tests and tests[0][4:] == ["run", "--rm", "--no-deps", "-T", "--entrypoint", "nginx", "nginx",
                                      "-t", "-q", "-c", "/etc/nginx/app/staged/nginx.conf"]


def test_a_tested_config_goes_live_when_nginx_is_not_running(tmp_path, monkeypatch, capsys):
    docker = FakeDocker(running=False, config_ok=True)
    result = run_module(tmp_path, monkeypatch, capsys, docker)
    assert result["changed"] and not result["reloaded"], result
    assert os.readlink(tmp_path / "live") == f"configs/{result['digest']}"
    assert any("run" in argv and "-t" in argv for argv in docker.calls)


def test_a_refused_config_never_goes_live_when_nginx_is_running(tmp_path, monkeypatch, capsys):
    docker = FakeDocker(running=True, config_ok=False)
    result = run_module(tmp_path, monkeypatch, capsys, docker)
    assert result.get("failed") and "keeps serving the live one" in result["msg"]
    assert not (tmp_path / "live").exists()
    assert [argv[4:6] for argv in docker.calls if "-t" in argv] == [["exec", "-T"]]
