"""app_ledger: the deploy ledger gets a line per deploy with the names of
what changed since the last good deploy, never the values; the fingerprint
of the last good deploy is root's alone and moves only on success."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.flask_vps.stack.plugins.filter import app_release as filters
from ansible_collections.flask_vps.stack.plugins.modules import app_ledger


def run(tmp_path, capsys, entry, fingerprint=None, check_mode=False):
    args = {"path": str(tmp_path / "ledger.jsonl"), "entry": entry, "_ansible_check_mode": check_mode,
            "fingerprint_path": str(tmp_path / "fingerprint.json")}
    if fingerprint is not None:
        args["fingerprint"] = fingerprint
    with patch_module_args(args), pytest.raises(SystemExit):
        app_ledger.main()
    return json.loads(capsys.readouterr().out)


def entries(tmp_path):
    return [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]


def prints(secret, greeting, source="s1"):
    settings = {"environment": {"GREETING": greeting}, "secrets": "one hash", "workers": [], "wsgi_target": "wsgi:app"}
    return filters.fingerprint(settings, {"secret_key": secret}, source)


def test_each_deploy_names_what_changed_since_the_last_good_one(tmp_path, capsys):
    run(tmp_path, capsys, {"action": "deploy", "result": "ok"}, prints("k1", "hi"))
    run(tmp_path, capsys, {"action": "deploy", "result": "failed"}, prints("k2", "hi", "s2"))
    run(tmp_path, capsys, {"action": "deploy", "result": "ok"}, prints("k2", "hello", "s2"))
    first, failed, second = entries(tmp_path)
    assert first["changed"] == ["environment.GREETING", "secret.secret_key", "setting.workers",
                                "setting.wsgi_target", "source"]
    assert failed["changed"] == ["secret.secret_key", "source"]
    # Against the last good deploy: the failed one's fingerprint was not kept.
    assert second["changed"] == ["environment.GREETING", "secret.secret_key", "source"]
    assert all(entry["time"].endswith("Z") for entry in (first, failed, second))
    text = (tmp_path / "ledger.jsonl").read_text() + (tmp_path / "fingerprint.json").read_text()
    assert "k2" not in text and "hello" not in text
    assert (tmp_path / "fingerprint.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "ledger.jsonl").stat().st_mode & 0o777 == 0o640


def test_a_rollback_is_written_without_a_fingerprint_and_check_mode_writes_nothing(tmp_path, capsys):
    result = run(tmp_path, capsys, {"action": "rollback", "result": "ok", "release": "abc"})
    assert result["changed"] and "changed" not in result["entry"]
    run(tmp_path, capsys, {"action": "rollback", "result": "ok"}, check_mode=True)
    assert [entry["release"] for entry in entries(tmp_path)] == ["abc"]


def test_the_ledger_reads_as_one_line_per_entry():
    lines = [json.dumps({"time": "2026-12-04T08:00:00Z", "action": "deploy", "result": "ok", "release": "abc",
                         "changed": ["source"], "controller": "me@laptop"}),
             json.dumps({"time": "2026-12-04T09:00:00Z", "action": "unit", "result": "failed",
                         "unit": "shop-job-digest.service"}),
             "not json"]
    assert filters.ledger_lines(lines) == [
        "2026-12-04T08:00:00Z deploy ok release abc changed: source by me@laptop",
        "2026-12-04T09:00:00Z unit failed unit shop-job-digest.service"]


def test_the_ledger_names_the_snapshot_of_a_deploy_and_the_data_a_rollback_put_back():
    lines = [json.dumps({"time": "2026-12-04T08:00:00Z", "action": "deploy", "result": "ok", "release": "abc",
                         "snapshot": {"time": "2026-12-04T07:59:50Z", "migration": None, "migration_after": "0002"}}),
             json.dumps({"time": "2026-12-04T09:00:00Z", "action": "rollback", "result": "ok", "release": "xyz",
                         "data": {"snapshot_time": "2026-12-04T07:59:50Z", "migration": None, "kept": "/k"}})]
    assert filters.ledger_lines(lines) == [
        ("2026-12-04T08:00:00Z deploy ok release abc snapshot before its release command 2026-12-04T07:59:50Z "
         "(migration none -> 0002)"),
        "2026-12-04T09:00:00Z rollback ok release xyz data back to 2026-12-04T07:59:50Z (migration none)"]
