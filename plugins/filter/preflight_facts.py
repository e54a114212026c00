"""Preflight's data plumbing: what the checks read, reshaped from the roles'
argument specs and the VPS's own tools. No check lives here (see
input_checks.py and tls_settings.py); these only reshape data.
"""

import re

from ansible.module_utils.common.yaml import yaml_load


def spec_without_defaults(spec_text, entry_point="main"):
    """A role's argument spec with its defaults left out: the values checked
    against it are the ones the role will see (its own defaults included,
    templates resolved: plugins/lookup/role_settings.py). A required input
    is not required here: a role that has one gets it from the role or play
    that calls it, and Ansible checks it then. (Required suboptions, such as
    a worker's name, stay required.)"""
    # libyaml when present, as the role_settings lookup reads the same file:
    # Python's own parser takes about 7 times as long on these specs.
    options = yaml_load(spec_text)["argument_specs"][entry_point]["options"]
    return {name: {k: v for k, v in spec.items() if k not in ("default", "required")}
            for name, spec in options.items()}


def ssh_key_lines(settings, names):
    """Every non-empty, non-comment line of the SSH key variables, with its variable's name."""
    lines = []
    for name in names:
        value = settings.get(name)
        for entry in [value] if isinstance(value, str) else (value or []):
            for line in str(entry).splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    lines.append({"name": name, "key": line})
    return lines


def port_users(ss_lines, ports):
    """Port (as text) -> the processes listening on it ("name pid N"), from `ss -ltnpH`."""
    users = {}
    for port in ports:
        found = []
        for line in ss_lines:
            fields = line.split()
            if len(fields) >= 4 and fields[3].rsplit(":", 1)[-1] == str(port):
                for process, pid in re.findall(r'\("([^"]+)",pid=([0-9]+)', line):
                    entry = f"{process} pid {pid}"
                    if entry not in found:
                        found.append(entry)
        users[str(port)] = found
    return users


def foreign_publishers(containers, busy_ports, projects):
    """Names of the containers of compose projects other than projects (the
    stack's own) that publish one of busy_ports."""
    names = []
    for container in containers:
        published = {str(port.get("PublicPort", 0)) for port in container.get("Ports") or []}
        if (container.get("Labels") or {}).get("com.docker.compose.project") not in projects \
                and published & {str(p) for p in busy_ports}:
            names.append(" ".join(container.get("Names") or []).lstrip("/"))
    return names


class FilterModule:
    def filters(self):
        return {
            "spec_without_defaults": spec_without_defaults,
            "ssh_key_lines": ssh_key_lines,
            "port_users": port_users,
            "foreign_publishers": foreign_publishers,
        }
