"""The app role's filters of its snapshots before a release command
(plugins/filter/app_snapshot.py), and the rollback's input check."""

import base64
import json

import pytest
from ansible_collections.flask_vps.stack.plugins.filter import app_snapshot as filters
from ansible_collections.flask_vps.stack.plugins.filter import input_checks

LIVE, TARGET = "bbbbbbbbbbbb", "aaaaaaaaaaaa"
NOW = 1_800_000_000
# The live release's snapshot, taken 90 minutes ago when TARGET was live.
SNAPSHOT = {"time": "2027-01-15T06:30:00Z", "epoch": NOW - 5400, "migration": "0001", "migration_after": "0002",
            "live": TARGET, "release": LIVE, "postgres": "postgres.dump", "sqlite": []}


def state(**changes):
    return {"app": "shop", "live": LIVE, "target": TARGET, "with_data": False, "confirm": "", "fleet": False,
            "now": NOW, "live_migration": {"migration": "0002"}, **changes}


def test_snapshots_go_with_their_releases_and_kept_copies_stay():
    names = [LIVE, TARGET, "cccccccccccc", ".cccccccccccc.x1y2", "before-rollback-20270115T080000Z"]
    assert filters.snapshots_to_prune(names, [LIVE, TARGET]) == [".cccccccccccc.x1y2", "cccccccccccc"]
    assert filters.snapshots_to_prune(names, [LIVE, TARGET, "cccccccccccc"]) == [".cccccccccccc.x1y2"]


def test_snapshot_records_are_read_from_slurp_results():
    def slurped(release, record):
        return {"item": release, "content": base64.b64encode(json.dumps(record).encode()).decode()}
    results = [slurped(LIVE, SNAPSHOT), {"item": TARGET, "failed": True, "msg": "file not found"},
               {"item": "cccccccccccc", "content": base64.b64encode(b"{cut").decode()}]
    assert filters.snapshot_records(results) == {LIVE: SNAPSHOT}


def test_a_rollback_with_data_says_what_is_lost_and_asks_for_the_live_release():
    refused = filters.rollback_data({LIVE: SNAPSHOT}, state(with_data=True, confirm=TARGET))
    assert refused["refusal"] == (
        "Rollback with data refused: writes since 2027-01-15T06:30:00Z (90 min ago) will be lost: the database "
        f"goes back to the snapshot taken before release {LIVE}'s release command (migration 0001). To go ahead, "
        f"add -e confirm={LIVE} (the release rolled back from). Nothing was changed.")
    confirmed = filters.rollback_data({LIVE: SNAPSHOT}, state(with_data=True, confirm=LIVE))
    assert confirmed["refusal"] == "" and confirmed["warning"] == ""
    assert confirmed["notice"].startswith("Rolling back shop's data with its code: writes since "
                                          "2027-01-15T06:30:00Z (90 min ago) will be lost")


@pytest.mark.parametrize(("records", "changes", "expected"), [
    ({}, {}, f"no snapshot of shop's database was taken before release {LIVE}'s release command"),
    ({LIVE: {**SNAPSHOT, "live": "cccccccccccc"}}, {},
     "holds the data release cccccccccccc ran with, not release aaaaaaaaaaaa's: roll back to cccccccccccc"),
    ({LIVE: SNAPSHOT}, {"fleet": True}, "the multi-host layout takes no snapshot"),
])
def test_a_rollback_with_data_without_its_snapshot_is_refused(records, changes, expected):
    result = filters.rollback_data(records, state(with_data=True, confirm=LIVE, **changes))
    assert expected in result["refusal"] and result["refusal"].endswith("Nothing was changed.")


def test_a_code_rollback_warns_when_the_schema_is_newer_than_the_code():
    warned = filters.rollback_data({LIVE: SNAPSHOT}, state())
    assert warned["refusal"] == "" and warned["warning"] == (
        f"The database of shop is at migration 0002, newer than release {TARGET}'s code, which ran with migration "
        f"0001: the code goes back, the data stays as it is. If release {TARGET} cannot work with it, roll back "
        f"with the data instead (-e with_data=true -e confirm={LIVE}): writes since 2027-01-15T06:30:00Z "
        "(90 min ago) will be lost: the database goes back to the snapshot taken before release "
        f"{LIVE}'s release command (migration 0001).")
    # The target's own record wins over what the live release's snapshot holds.
    own = {TARGET: {"migration_after": None, "epoch": NOW, "time": "t"}}
    assert "ran with migration none" in filters.rollback_data({**own, LIVE: SNAPSHOT}, state())["warning"]
    assert "ran with migration none" in filters.rollback_data(own, state())["warning"]
    assert "no snapshot of release" in filters.rollback_data(own, state())["warning"]


@pytest.mark.parametrize(("records", "live_migration"), [
    ({LIVE: SNAPSHOT}, {"migration": "0001"}),  # the schema the target ran with
    ({LIVE: SNAPSHOT}, {}),  # the version could not be read
    ({LIVE: {**SNAPSHOT, "live": "cccccccccccc"}}, {"migration": "0002"}),  # the target's version unknown
    ({}, {"migration": "0002"}),
])
def test_a_code_rollback_says_nothing_when_it_cannot_tell_or_the_schema_matches(records, live_migration):
    assert filters.rollback_data(records, state(live_migration=live_migration)) == {
        "refusal": "", "notice": "", "warning": ""}


@pytest.mark.parametrize("value", [True, False, "true", "False", "yes", "no", "1", "0", 1, "on"])
def test_with_data_is_a_boolean(value):
    assert input_checks.rollback_input_errors({"with_data": value}) == []


@pytest.mark.parametrize("value", ["maybe", "", "tru", 2, ["true"]])
def test_with_data_that_is_not_a_boolean_is_refused(value):
    [error] = input_checks.rollback_input_errors({"with_data": value})
    assert error.startswith(f"with_data={json.dumps(value)} is not allowed: allowed is true or false")
