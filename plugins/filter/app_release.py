"""Filters of the app role: release ids, gunicorn sizing, and the report of
a refused release. Unit tests: tests/unit/test_app_filters.py. Memory sizes
and durations are read with preflight's grammar
(plugins/module_utils/docker_values.py)."""

import hashlib
import json
import shlex

from ansible_collections.flask_vps.stack.plugins.module_utils.docker_values import (
    duration_seconds,
    memory_bytes,
)

# gunicorn prints this once per start of its master process.
GUNICORN_START = "Starting gunicorn"
# Memory one gunicorn worker of a small Flask app needs, with headroom.
WORKER_MEMORY_MB = 64


def release_id(source_digest, settings):
    """The release id: the source's digest and the container settings."""
    data = source_digest + json.dumps(settings, sort_keys=True)
    return hashlib.sha1(data.encode()).hexdigest()[:12]


def gunicorn_workers(configured, cores, memory_limit):
    """gunicorn's advice, 2 x cores + 1, as far as the container's memory
    limit allows; a configured count other than 0 wins."""
    if int(configured) > 0:
        return int(configured)
    by_cores = 2 * int(cores) + 1
    by_memory = memory_bytes(memory_limit) // (WORKER_MEMORY_MB * 1024**2)
    return max(1, min(by_cores, by_memory))


def compose_escape(value):
    """A literal value for a Compose file: `$` would start an interpolation.
    A list (a command's arguments) is escaped item by item."""
    if isinstance(value, (list, tuple)):
        return [compose_escape(item) for item in value]
    return str(value).replace("$", "$$")


def systemd_arguments(command):
    """A command (a string, split as a shell would, or a list of arguments)
    as arguments of a systemd Exec= line, each passed through literally:
    double-quoted with C escapes, `$` and `%` doubled (systemd expands
    $VARIABLE and %-specifiers)."""
    arguments = shlex.split(command) if isinstance(command, str) else [str(item) for item in command]
    quoted = []
    for argument in arguments:
        escaped = argument.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        quoted.append('"' + escaped.replace("$", "$$").replace("%", "%%") + '"')
    return " ".join(quoted)


def first_start(lines):
    """The log lines of a container's first start. A crashing container
    restarts and logs the same lines again; the app's own error is in the
    first start. Found by position: two starts within a second log
    identical lines."""
    starts = [index for index, line in enumerate(lines) if GUNICORN_START in line]
    return lines[:starts[1]] if len(starts) > 1 else list(lines)


def healthcheck_test(command):
    """A Compose health check test from a command: a string runs in a shell."""
    return ["CMD-SHELL", command] if isinstance(command, str) else ["CMD", *command]


def failed_worker(worker_results):
    """The name of the first worker whose container was not running once
    the app was healthy, or "" (results of the loop over app_workers)."""
    for result in worker_results or []:
        if result.get("failed"):
            return result["item"]["name"]
    return ""


# The steps before the release command whose failure refuses the release
# (tasks/start.yml's task names), and what the refusal says of each.
STEP_REFUSALS = {
    "Take a snapshot of the database":
        "the snapshot of its database before the release command failed: {error}",
    "Check the release command's rehearsal":
        "its release command failed its rehearsal on a copy of the database, {msg}",
    "Start a throwaway PostgreSQL from the snapshot":
        "its release command could not be rehearsed: {error} (the live database was not touched)",
}


def step_error(failed_result, limit=600):
    """A failed task's own words: its stderr, else its message, shortened."""
    error = str(failed_result.get("stderr") or failed_result.get("msg") or "").strip()
    return error if len(error) <= limit else error[:limit - 3].rstrip() + "..."


def refusal(command_result, container, healthcheck_path, worker="", failed_task="", failed_result=None):
    """Why a release was refused: a step before its release command
    (failed_task, failed_result: Ansible's ansible_failed_task.name and
    ansible_failed_result), its command, a worker, or its container."""
    failed_result = failed_result or {}
    if failed_task in STEP_REFUSALS:
        return STEP_REFUSALS[failed_task].format(error=step_error(failed_result),
                                                 msg=str(failed_result.get("msg", "")))
    command_result = command_result or {}
    if command_result.get("failed"):
        return f"its release command failed (exit code {command_result.get('rc', '?')})"
    if worker:
        return f"its worker {worker} is not running or not healthy"
    state = (container or {}).get("State", {})
    if (container or {}).get("RestartCount", 0) > 0 or state.get("Status") in ("exited", "dead"):
        return "its container crashed on start"
    health = state.get("Health", {}).get("Status", "unknown") if container else "missing"
    return f"its health check on {healthcheck_path} did not pass ({health})"


def refusal_log(command_result, log_lines, count):
    """The last `count` lines a user needs to see: the release command's
    output if it failed, else the first start of the container."""
    command_result = command_result or {}
    if command_result.get("failed"):
        lines = (command_result.get("stdout", "") + "\n" + command_result.get("stderr", "")).strip().splitlines()
    else:
        lines = first_start(log_lines or [])
    return "\n".join(lines[-int(count):]).strip()


def history_release(history, index):
    """The release of a history entry ("<time> <switch> <release>") by its
    index (-1: live, -2: previous), or "" when there is none."""
    try:
        return history[index].split()[-1]
    except IndexError:
        return ""


def releases_to_keep(history, keep, always):
    """The `keep` most recently live releases, and those in `always`."""
    recent = []
    for entry in reversed(history):
        release = entry.split()[-1]
        if release not in recent:
            recent.append(release)
    return [release for release in dict.fromkeys(recent[:int(keep)] + list(always)) if release]


def static_fallback(history, release, count):
    """The `count` releases most recently live before `release` goes live,
    newest first: whose static files nginx still serves after the switch.
    prune.yml keeps them (the most recently live, and the previous one)."""
    earlier = []
    for entry in reversed(history):
        live = entry.split()[-1]
        if live != release and live not in earlier:
            earlier.append(live)
    return earlier[:max(int(count), 0)]


def release_labels(containers):
    """The releases that containers (docker_host_info, verbose) belong to."""
    labels = [(container.get("Labels") or {}).get("flask-vps.release") for container in containers]
    return sorted({label for label in labels if label})


def image_tags(images, repository):
    """The tags of `repository` among images (docker_host_info)."""
    tags = []
    for image in images:
        for ref in image.get("RepoTags") or []:
            name, _, tag = ref.rpartition(":")
            if name == repository:
                tags.append(tag)
    return sorted(set(tags))


def fingerprint(settings, secrets, source_digest):
    """Each setting's, environment variable's and secret's name with a
    SHA-256 of its value, and the source's digest: the deploy ledger names
    the ones a deploy changes (plugins/modules/app_ledger.py)."""
    def digest(value):
        return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
    prints = {"source": source_digest}
    for name, value in settings.items():
        if name == "environment":
            prints.update({f"environment.{key}": digest(each) for key, each in (value or {}).items()})
        elif name != "secrets":  # settings["secrets"] is one hash of them all
            prints[f"setting.{name}"] = digest(value)
    prints.update({f"secret.{name}": digest(value) for name, value in (secrets or {}).items()})
    return prints


def ledger_lines(lines):
    """The ledger's JSON lines as one line each for a person."""
    shown = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        changed = entry.get("changed")
        snapshot, data = entry.get("snapshot") or {}, entry.get("data") or {}
        shown.append(" ".join(part for part in (
            entry.get("time", "?"), entry.get("action", "?"), entry.get("result", "?"),
            f"release {entry['release']}" if entry.get("release") else "",
            f"unit {entry['unit']}" if entry.get("unit") else "",
            f"changed: {', '.join(changed) or 'nothing'}" if changed is not None else "",
            f"snapshot before its release command {snapshot.get('time')} (migration {snapshot.get('migration') or 'none'}"
            f" -> {snapshot.get('migration_after') or 'none'})" if snapshot else "",
            f"data back to {data.get('snapshot_time')} (migration {data.get('migration') or 'none'})" if data else "",
            f"by {entry['controller']}" if entry.get("controller") else "") if part))
    return shown


def logs_errors(asked, app_name, workers, jobs, postgres=True):
    """What is wrong with playbooks/logs.yml's -e values ({app, service,
    since, lines}): one message per value, naming it and what is allowed."""
    errors = []
    if asked["app"] not in ("", app_name):
        errors.append(f"app={asked['app']!r} is not an app of this host: allowed is {app_name}.")
    kind, _, name = str(asked["service"]).partition(":")
    known = {"worker": list(workers), "job": list(jobs)}
    plain = ["app", "nginx", *(["postgres"] if postgres else [])]
    if not ((kind in plain and not name) or (kind in known and name in known[kind])):
        names = [f"{kind}:{each}" for kind in known for each in known[kind]]
        errors.append(f"service={asked['service']!r} is not a service of {app_name}: allowed are "
                      f"{', '.join([*plain, *names])}.")
    try:
        duration_seconds(asked["since"])
    except ValueError:
        errors.append(f"since={asked['since']!r} is not a duration: allowed are hours, minutes and seconds "
                      "such as 30m, 1h or 1h30m.")
    if not str(asked["lines"]).isdigit() or not 0 < int(asked["lines"]) <= 100000:
        errors.append(f"lines={asked['lines']!r} is not allowed: allowed is a whole number from 1 to 100000.")
    return errors


class FilterModule:
    def filters(self):
        return {
            "app_logs_errors": logs_errors,
            "app_fingerprint": fingerprint,
            "app_ledger_lines": ledger_lines,
            "app_release_id": release_id,
            "app_gunicorn_workers": gunicorn_workers,
            "app_compose_escape": compose_escape,
            "app_systemd_arguments": systemd_arguments,
            "app_duration_seconds": duration_seconds,
            "app_refusal": refusal,
            "app_failed_worker": failed_worker,
            "app_healthcheck_test": healthcheck_test,
            "app_refusal_log": refusal_log,
            "app_history_release": history_release,
            "app_releases_to_keep": releases_to_keep,
            "app_static_fallback": static_fallback,
            "app_release_labels": release_labels,
            "app_image_tags": image_tags,
        }
