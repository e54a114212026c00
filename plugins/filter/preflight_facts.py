"""Preflight's data plumbing: what the checks read, gathered from the roles'
files, the inventory and the VPS's own tools. No check lives here (see
input_checks.py and tls_settings.py); these only reshape data.
"""

import re

import yaml

UNDEFINED = "__preflight_undefined__"


def role_defaults(texts):
    """The roles' defaults/main.yml files (their text), merged into one mapping."""
    merged = {}
    for text in texts:
        loaded = yaml.safe_load(text)
        if isinstance(loaded, dict):
            merged.update(loaded)
    return merged


def preflight_settings(defaults, values):
    """Each role variable's value as the roles will see it: the inventory's or
    extra vars' value (`values`, in the order of `defaults`, UNDEFINED where
    unset) over the role's default. A default that is itself a template
    (app_root) is only known once its role runs: it is left out."""
    settings = {}
    for (name, default), value in zip(defaults.items(), values, strict=True):
        if value != UNDEFINED:
            settings[name] = value
        elif not (isinstance(default, str) and "{{" in default):
            settings[name] = default
    return settings


def spec_without_defaults(spec_text, entry_point="main"):
    """A role's argument spec with its defaults left out, so that only values
    the user set are checked against it (a default may be a template). A
    required input is not required here: the roles that have one (deploy_lock)
    get it from the role or play that calls them, and Ansible checks it then.
    (Required suboptions, such as a worker's name, stay required.)"""
    options = yaml.safe_load(spec_text)["argument_specs"][entry_point]["options"]
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


def foreign_publishers(containers, busy_ports, project):
    """Names of the containers of other compose projects that publish one of busy_ports."""
    names = []
    for container in containers:
        published = {str(port.get("PublicPort", 0)) for port in container.get("Ports") or []}
        if (container.get("Labels") or {}).get("com.docker.compose.project") != project \
                and published & {str(p) for p in busy_ports}:
            names.append(" ".join(container.get("Names") or []).lstrip("/"))
    return names


class FilterModule:
    def filters(self):
        return {
            "role_defaults": role_defaults,
            "preflight_settings": preflight_settings,
            "spec_without_defaults": spec_without_defaults,
            "ssh_key_lines": ssh_key_lines,
            "port_users": port_users,
            "foreign_publishers": foreign_publishers,
        }
