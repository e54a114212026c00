"""Read HAProxy's `show stat` CSV into the app hosts' state."""

import csv
import io


def balancer_servers(stat):
    """[{name, address, status, check, sessions}] for each server line of
    `show stat <backend> 4 -1`: status is UP, DOWN, DRAIN, MAINT, ... and
    check the last health check's result (L7OK, L4CON, ...)."""
    lines = [line for line in stat.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise ValueError(f"not HAProxy's show stat output: {stat[:200]!r}")
    rows = csv.DictReader(io.StringIO("\n".join([lines[0][2:], *lines[1:]])))
    return [{"name": row["svname"], "address": row.get("addr", ""), "status": row["status"],
             "check": row.get("check_status", ""), "sessions": int(row["scur"] or 0)}
            for row in rows if row["svname"] not in ("FRONTEND", "BACKEND")]


def balancer_server_line(server):
    """One line per app host for the status playbook."""
    return (f"{server['name']} ({server['address']}): {server['status']}, last check {server['check'] or '-'}, "
            f"{server['sessions']} request(s) in flight")


class FilterModule:
    def filters(self):
        return {"balancer_servers": balancer_servers, "balancer_server_line": balancer_server_line}
