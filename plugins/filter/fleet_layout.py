"""Preflight's check of the multi-host layout: the inventory groups `web`
(app hosts), `lb` (the load balancer) and `db` (PostgreSQL), in words.

`fleet_layout_errors(groups, addresses, app_postgres)` takes the
inventory's groups, each host's vps_private_address (host -> value, None
when unset) and app_postgres, and returns one message per problem.
"""

import ipaddress

FLEET_GROUPS = ("web", "lb", "db")


def fleet_layout_errors(groups, addresses, app_postgres=False):
    web, lb, db = ([h for h in groups.get(name) or []] for name in FLEET_GROUPS)
    if not (web or lb or db):
        return []  # one VPS (or several whole stacks): nothing to check
    errors = []
    if not web:
        errors.append(f"groups lb {lb} and db {db} need app hosts: put them in the group `web`.")
    if len(lb) != 1:
        errors.append(f"group lb has {len(lb)} hosts {lb}: the multi-host layout needs exactly one "
                      "load balancer.")
    if len(db) > 1:
        errors.append(f"group db has {len(db)} hosts {db}: allowed is one PostgreSQL host, or none.")
    if app_postgres and not db:
        errors.append("app_postgres is true: the multi-host layout runs PostgreSQL on the host of the "
                      "group `db`, which is empty.")
    for name, members in (("lb", lb), ("db", db)):
        shared = sorted(set(members) & set(web))
        if shared:
            errors.append(f"{', '.join(shared)} is in both web and {name}: an app host cannot also be "
                          f"the {'load balancer' if name == 'lb' else 'PostgreSQL host'}.")
    vps = set(groups.get("vps") or [])
    outside = sorted(set(web + lb + db) - vps)
    if outside:
        errors.append(f"{', '.join(outside)} not in the group `vps`: every host of web, lb and db is a VPS "
                      "to provision (make those groups children of vps).")
    for host in sorted(set(web + lb + db)):
        address = addresses.get(host)
        try:
            ipaddress.IPv4Address(str(address))
        except ValueError:
            errors.append(f"vps_private_address of {host} is {address!r}: allowed is the IPv4 address the "
                          "other hosts of the layout reach it on (its private network's).")
    return errors


class FilterModule:
    def filters(self):
        return {"fleet_layout_errors": fleet_layout_errors}
