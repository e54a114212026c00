"""nginx_switch's file handling: digest, atomic promotion, pruning."""

import importlib.util
import os
from pathlib import Path

ROLE = Path(__file__).resolve().parents[2] / "roles" / "app"
spec = importlib.util.spec_from_file_location("nginx_switch", ROLE / "library" / "nginx_switch.py")
nginx_switch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nginx_switch)


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
