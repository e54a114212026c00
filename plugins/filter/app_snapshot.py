"""Filters of the app role's snapshots before a release command (taken by
the backup role's script into app_root/snapshots/<release>/): what a
rollback does with the data, and which snapshots go with pruned releases.
Unit tests: tests/unit/test_app_snapshot.py."""

import base64
import binascii
import json
import re

# A release id (plugins/filter/app_release.py: release_id).
RELEASE_ID = re.compile(r"^[0-9a-f]{12}$")


def snapshots_to_prune(names, keep):
    """The entries of the snapshots directory to remove: the snapshots of
    releases no longer kept, and the work directories a failed snapshot left
    (hidden). The copies kept by rollbacks with data stay until removed by hand."""
    return sorted(name for name in names
                  if (RELEASE_ID.match(name) and name not in keep) or name.startswith("."))


def age(seconds):
    seconds = max(int(seconds), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def snapshot_records(slurped):
    """{release: record} from slurp results looped over releases (a
    release without a readable snapshot.json is left out)."""
    records = {}
    for result in slurped or []:
        if result.get("failed") or "content" not in result:
            continue
        try:
            record = json.loads(base64.b64decode(result["content"]))
        except (ValueError, binascii.Error):
            continue
        if isinstance(record, dict):
            records[result["item"]] = record
    return records


def version(value):
    return value if value else "none"


def outcome(refusal="", notice="", warning=""):
    """rollback_data's answer: at most one of them is said."""
    return {"refusal": refusal, "notice": notice, "warning": warning}


def rollback_data(records, state):
    """What a rollback from state["live"] to state["target"] does with the
    data, from the releases' snapshot records ({release: record}):
    {"refusal", "notice", "warning"} (empty when there is nothing to say).

    state: app, live, target, with_data (bool), confirm (str), fleet (bool),
    now (epoch), live_migration ({"migration": v}, or {} when unknown).
    With with_data, the database goes back to the snapshot taken before the
    live release's release command, once confirm names that release.
    Without it, a warning when the database's migration version differs from
    the one the target release ran with: its own record's version after its
    release command, or, when the live release replaced it, the version the
    live release's snapshot holds."""
    app, live, target = state["app"], state["live"], state["target"]
    snapshot = records.get(live)
    lost = ""
    if snapshot:
        lost = (f"writes since {snapshot['time']} ({age(state['now'] - snapshot['epoch'])} ago) will be lost: "
                f"the database goes back to the snapshot taken before release {live}'s release command "
                f"(migration {version(snapshot.get('migration'))})")
    if state["with_data"]:
        if state["fleet"]:
            return outcome(refusal=("Rollback with data refused: the multi-host layout takes no snapshot before a "
                                "release command (PostgreSQL is on the db host); roll back the code alone, or "
                                "restore a backup (playbooks/restore.yml). Nothing was changed."))
        if not snapshot:
            return outcome(refusal=(f"Rollback with data refused: no snapshot of {app}'s database was taken before "
                                f"release {live}'s release command (no release command or no database then, a "
                                "deploy by an older flask-vps, or a failed snapshot): there is nothing to put back. "
                                "Roll back the code alone, or restore a backup (playbooks/restore.yml). "
                                "Nothing was changed."))
        before = snapshot.get("live") or ""
        if before and before != target:
            return outcome(refusal=(f"Rollback with data refused: the snapshot taken before release {live}'s release "
                                f"command holds the data release {before} ran with, not release {target}'s: roll "
                                f"back to {before} (-e release={before}). Nothing was changed."))
        if str(state["confirm"]) != live:
            return outcome(refusal=(f"Rollback with data refused: {lost}. To go ahead, add -e confirm={live} (the "
                                f"release rolled back from). Nothing was changed."))
        return outcome(notice=f"Rolling back {app}'s data with its code: {lost}.")
    expected, known = None, False
    own = records.get(target) or {}
    if "migration_after" in own:
        expected, known = own["migration_after"], True
    elif snapshot and snapshot.get("live") == target:
        expected, known = snapshot.get("migration"), True
    current = state.get("live_migration") or {}
    if not known or "migration" not in current or current["migration"] == expected:
        return outcome()
    advice = (f"roll back with the data instead (-e with_data=true -e confirm={live}): {lost}" if snapshot else
              f"no snapshot of release {live} can take the data back; restore a backup (playbooks/restore.yml) if "
              "it must go back")
    return outcome(warning=(
        f"The database of {app} is at migration {version(current['migration'])}, newer than release {target}'s "
        f"code, which ran with migration {version(expected)}: the code goes back, the data stays as it is. If "
        f"release {target} cannot work with it, {advice}."))


class FilterModule:
    def filters(self):
        return {
            "app_snapshots_to_prune": snapshots_to_prune,
            "app_snapshot_records": snapshot_records,
            "app_rollback_data": rollback_data,
        }
