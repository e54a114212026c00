"""nginx_switch: digest, a site's files laid over the others', atomic
promotion, pruning, and that nothing nginx refuses goes live, whether nginx
runs or not."""

import json
import os
import subprocess

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.flask_vps.stack.plugins.modules import nginx_switch


def stage(root, site_conf, site="flaskapp", common="include sites/*.conf;\n"):
    staged = root / "staged" / site
    (staged / "sites").mkdir(parents=True, exist_ok=True)
    (staged / "nginx.conf").write_text(common)
    (staged / "sites" / f"{site}.conf").write_text(site_conf)
    return nginx_switch.tree_digest(staged)


def promote(root, site="flaskapp"):
    """Assemble the site's candidate and make it live."""
    candidate = nginx_switch.assemble(str(root), site)
    digest = nginx_switch.tree_digest(candidate)
    nginx_switch.point_live_at(str(root), digest, candidate)
    return digest


def test_digest_follows_content_not_times(tmp_path):
    first = stage(tmp_path, "upstream a")
    os.utime(tmp_path / "staged" / "flaskapp" / "nginx.conf", (0, 0))
    assert nginx_switch.tree_digest(tmp_path / "staged" / "flaskapp") == first
    assert stage(tmp_path, "upstream b") != first


def test_promotion_swaps_a_whole_tree_and_prunes_the_rest(tmp_path):
    (tmp_path / "configs").mkdir()
    stage(tmp_path, "upstream old")
    old = promote(tmp_path)
    stage(tmp_path, "upstream new")
    new = promote(tmp_path)
    live = tmp_path / "live"
    assert live.is_symlink() and os.readlink(live) == f"configs/{new}"
    assert (live / "sites" / "flaskapp.conf").read_text() == "upstream new"
    # The old tree is still whole (it is the previous one) until pruned.
    assert (tmp_path / "configs" / old / "sites" / "flaskapp.conf").read_text() == "upstream old"
    assert not (tmp_path / "candidate").exists()
    (tmp_path / "configs" / "stale").mkdir()
    (tmp_path / "configs" / f"{new}.partial").mkdir()  # left by a killed run
    nginx_switch.prune_configs(str(tmp_path), {new, old})
    assert sorted(os.listdir(tmp_path / "configs")) == sorted([new, old])


def test_a_site_replaces_its_own_files_and_keeps_the_other_sites_as_served(tmp_path):
    (tmp_path / "configs").mkdir()
    stage(tmp_path, "upstream shop", site="shop")
    (tmp_path / "staged" / "shop" / "streams").mkdir()
    (tmp_path / "staged" / "shop" / "streams" / "shop.conf").write_text("server shop")
    promote(tmp_path, "shop")
    # Another site's staged files that were never made live stay out.
    stage(tmp_path, "upstream blog, not tested", site="blog")
    stage(tmp_path, "upstream shop v2", site="shop", common="common v2\n")
    (tmp_path / "staged" / "shop" / "streams" / "shop.conf").unlink()
    promote(tmp_path, "shop")
    live = tmp_path / "live"
    assert (live / "sites" / "shop.conf").read_text() == "upstream shop v2"
    assert (live / "nginx.conf").read_text() == "common v2\n"
    assert not (live / "streams" / "shop.conf").exists()
    assert not (live / "sites" / "blog.conf").exists()
    promote(tmp_path, "blog")
    assert (live / "sites" / "blog.conf").read_text() == "upstream blog, not tested"
    assert (live / "sites" / "shop.conf").read_text() == "upstream shop v2"


def test_a_sites_own_files_are_its_conf_files_only():
    assert nginx_switch.owned_by("sites/shop.conf", "shop")
    assert nginx_switch.owned_by("streams/shop.conf", "shop")
    assert not nginx_switch.owned_by("sites/shopping.conf", "shop")
    assert not nginx_switch.owned_by("conf.d/shop.conf", "shop")
    assert not nginx_switch.owned_by("nginx.conf", "shop")


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
    args = {"root": str(tmp_path), "container_root": "/etc/nginx/app", "project_dir": str(tmp_path),
            "site": "flaskapp"}
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
    assert not (tmp_path / "candidate").exists()
    tests = [argv for argv in docker.calls if "-t" in argv]
    assert tests and tests[0][4:] == ["run", "--rm", "--no-deps", "-T", "--entrypoint", "nginx", "nginx",
                                      "-t", "-q", "-c", "/etc/nginx/app/candidate/nginx.conf"]


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
