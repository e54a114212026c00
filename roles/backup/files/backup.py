#!/usr/bin/python3
"""Back up and restore one flask-vps stack with restic.

Installed as /usr/local/sbin/<name>-backup; reads its settings from
/etc/<name>-backup/config.json (written by the backup role). Commands:

  backup            one backup now: PostgreSQL dump, consistent copies of the
                    SQLite databases, the data directory, secrets and
                    certificates; then `forget --prune` with the retention.
  check             restic check of the repository.
  status            the last good backup (JSON), with its age.
  find SNAPSHOT     the snapshot (an id or "latest") as JSON; exits 3 when
                    the repository does not have it, 2 when it cannot be opened,
                    4 when it is another VPS's or stack's or lacks what the
                    stack needs.
  stage SNAPSHOT    restore the snapshot's data and dumps on the data
                    directory's filesystem, ready for `apply`; the live data is
                    untouched.
  apply             put the staged snapshot in place: dump the live database
                    and keep it with the live files in a timestamped copy, then
                    restore the database into a clean schema and the files.
  drill             a restore drill: this VPS's latest snapshot restored into a
                    temporary directory and a temporary PostgreSQL container
                    (never the live ones), checked, and removed; the result goes
                    to last-drill.json. Exits 1 when a check fails.
  restic ARGS...    restic itself with this stack's repository and password.

Snapshots before a release command (the app role's migrations), kept on the
VPS itself; these read no configuration, so they work with backups off:

  snapshot DIR      a pg_dump -Fc of the database and consistent copies of the
                    SQLite databases into DIR (root's alone), with
                    DIR/snapshot.json: its time and the migration version
                    (alembic_version) of the database it holds, and the
                    --labels given (a JSON object). Prints that record, or
                    {"snapshot": null} when there is no database.
  migration         the live database's migration version, as JSON; with
                    --record DIR, written to DIR/snapshot.json as the version
                    after the release command.
  snapshot-restore DIR --kept KEPT
                    put the database back as DIR holds it: the live one is
                    dumped (SQLite: copied) into KEPT first, then PostgreSQL is
                    restored into a clean schema in one transaction and the
                    SQLite databases are replaced. Run with the app stopped.
These take --data-dir PATH and --postgres-container NAME (empty: none).
  rehearsal-start DIR --postgres-container NAME --name NAME --connection-file FILE
                    a throwaway PostgreSQL (the live container's image) made
                    for the connection string in FILE (its user, password,
                    database, and host name on a new internal network),
                    restored from DIR's dump: a release command can run
                    against it before the live database.
  rehearsal-stop --name NAME
                    remove that container and network.

`find` and `stage` take --from-another-vps: a snapshot taken on another
machine (a VPS that replaced a dead one) or under another host name or stack.

Snapshots carry the inventory host name, the stack's name and this machine's
id (/etc/machine-id) as a `machine:` tag: `latest` is this machine's newest,
and `forget` only ever prunes this machine's snapshots of this stack, so
that two VPSs sharing a repository and a host name never mix.

A failure prints what failed and the last good backup, and exits non-zero
(the systemd unit is then failed, and OnFailure= notifies).
"""

import argparse
import contextlib
import datetime
import fcntl
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse

CONFIG = "/etc/{name}-backup/config.json"
SQLITE_HEADER = b"SQLite format 3\x00"
# Files SQLite keeps next to a database while it is open.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
# Run as the database file's owner, so that SQLite never leaves a root-owned
# -wal or -shm file behind that the app could not open; SQLite's online
# backup API gives a consistent copy even while the app writes.
SQLITE_COPY = """
import os, sqlite3, sys
src, dst, mode = sys.argv[1], sys.argv[2], int(sys.argv[3])
with sqlite3.connect(src, timeout=60) as source, sqlite3.connect(dst) as copy:
    source.backup(copy)
source.close(); copy.close()
os.chmod(dst, mode)
"""
EXIT_NO_REPOSITORY = 2
EXIT_NO_SNAPSHOT = 3
EXIT_REFUSED = 4
MACHINE_ID = "/etc/machine-id"
# How long a backup or restore waits for another one to finish, and pg_dump
# for a table lock, before failing (and notifying) instead of hanging.
LOCK_TIMEOUT = 3600
PG_LOCK_WAIT_TIMEOUT = "300s"
# Room left free on the data directory's filesystem beyond a restore's size.
SPACE_MARGIN = 64 * 1024 * 1024
# Kept copies of what a restore replaced: beside the data directory, or inside
# it when it is a mount point (a rename cannot leave its filesystem).
KEPT_PREFIX = ".before-restore-"
IN_PLACE_STAGING = ".restore"
# A restore drill's temporary directory, on the same filesystem (and beside
# the data directory, or inside it when it is a mount point).
DRILL_PREFIX = ".drill-"
# The row count of every table as the dump holds it, written beside the dump.
COUNTS = "postgres.counts.json"
# A line of pg_restore's SQL that starts a table's data, with the table's name
# as pg_dump quotes it (schema.table); the rows follow, one a line, up to "\.".
IDENTIFIER = r'(?:"(?:[^"]|"")*"|[^\s".]+)'
COPY_LINE = re.compile(rf"^COPY ({IDENTIFIER}\.{IDENTIFIER})(?: \(.*\))? +FROM stdin;$")
# How long the drill's PostgreSQL may take to start.
DRILL_POSTGRES_START = 300


class Failure(Exception):
    """What went wrong, in words; the command exits non-zero with it."""


class Refused(Failure):
    """A restore refused before any change, with its exit code."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def load_config(path):
    with open(path) as handle:
        config = json.load(handle)
    config.setdefault("environment", {})
    env_file = config.get("environment_file")
    if env_file and os.path.exists(env_file):
        with open(env_file) as handle:
            config["environment"] = json.load(handle)
    return config


def sftp_command(repository, ssh_config):
    """The ssh command restic runs for an sftp: repository, with the role's
    ssh_config (key, known hosts); None for other repositories.
    sftp:[user@]host:/path and sftp://[user@]host[:port]//path."""
    if not repository.startswith("sftp:"):
        return None
    rest = repository[len("sftp:"):]
    user, port = None, None
    if rest.startswith("//"):
        url = urllib.parse.urlsplit("sftp:" + rest)
        user, host, port = url.username, url.hostname, url.port
    else:
        # [user@]host:path, the host in brackets when it is an IPv6 address.
        at, colon = rest.find("@"), rest.find(":")
        if at != -1 and (colon == -1 or at < colon):
            user, rest = rest[:at], rest[at + 1:]
        host = rest[1:rest.find("]")] if rest.startswith("[") else rest.split(":", 1)[0]
    if not host:
        raise Failure(f"cannot read the host of the repository {repository}")
    argv = ["ssh", "-F", ssh_config]
    if port:
        argv += ["-p", str(port)]
    if user:
        argv += ["-l", user]
    return shlex.join(argv + [host, "-s", "sftp"])


def display(repository):
    """The repository as it may be shown: without a password in its URL."""
    scheme, sep, rest = repository.partition(":")
    url = urllib.parse.urlsplit(rest) if sep and "://" in rest else None
    if url and url.password:
        netloc = f"{url.username}:***@{url.hostname}" + (f":{url.port}" if url.port else "")
        return f"{scheme}:{url._replace(netloc=netloc).geturl()}"
    return repository


def restic_argv(config, *args):
    """restic's command line: nothing secret on it (any user can read it with
    ps), the repository and its password file go through restic_env."""
    argv = ["restic", "--cache-dir", config["cache_dir"]]
    command = sftp_command(config["repository"], config.get("ssh_config") or "/dev/null")
    if command:
        argv += ["--option", f"sftp.command={command}"]
    return argv + list(args)


def restic_env(config):
    """restic's environment: the user's (backup_environment), then the
    repository, which may hold a password in its URL, and the password file."""
    return {**os.environ, **{str(k): str(v) for k, v in config["environment"].items()},
            "RESTIC_REPOSITORY": config["repository"], "RESTIC_PASSWORD_FILE": config["password_file"]}


def restic(config, *args, check=True, capture=True, stdin=None, cache=True):
    argv = restic_argv(config, *args)
    if not cache:
        argv.insert(1, "--no-cache")
    result = subprocess.run(argv, env=restic_env(config), text=True, stdin=stdin, capture_output=capture,
                            check=False)
    if check and result.returncode != 0:
        raise Failure(f"restic {args[0]} failed (exit {result.returncode}): "
                      f"{(result.stderr or '').strip()[-2000:]}")
    return result


def open_repository(config, create=False):
    """Open the repository; with create, initialise it when it does not exist
    yet (restic init refuses a repository that does exist, so a wrong password
    or an unreachable server never creates a second one)."""
    opened = restic(config, "cat", "config", check=False)
    if opened.returncode == 0:
        return False
    if not create:
        raise Failure(f"the repository {config['repository_display']} cannot be opened: {opened.stderr.strip()[-1500:]}")
    init = restic(config, "init", check=False)
    if init.returncode != 0:
        raise Failure(f"the repository {config['repository_display']} cannot be opened "
                      f"({opened.stderr.strip()[-800:]}) nor created ({init.stderr.strip()[-800:]})")
    print(f"Created the restic repository {config['repository_display']}.")
    return True


def is_sqlite(path):
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def is_restore_area(name):
    """A staged restore or a kept copy inside a data directory that is a
    mount point: not the app's data, never backed up."""
    return name == IN_PLACE_STAGING or name.startswith((KEPT_PREFIX, DRILL_PREFIX))


def sqlite_databases(data_dir):
    """Relative paths of the SQLite databases under data_dir, sorted."""
    found = []
    for root, dirs, files in os.walk(data_dir):
        if root == data_dir:
            dirs[:] = [d for d in dirs if not is_restore_area(d)]
        dirs.sort()
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path) and is_sqlite(path):
                found.append(os.path.relpath(path, data_dir))
    return sorted(found)


def restic_pattern(path):
    """An exclude pattern matching exactly this absolute path."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in path)


def copy_sqlite(source, dest, scratch_root="/var/tmp", python=sys.executable):
    """A consistent copy of a live SQLite database, owned like the original.
    The copy is made by the database's owner in a directory of its own under
    scratch_root (it cannot enter root's staging directory), then moved."""
    info = os.stat(source)
    scratch = tempfile.mkdtemp(prefix="flask-vps-backup.", dir=scratch_root)
    try:
        os.chown(scratch, info.st_uid, info.st_gid)
        copy = os.path.join(scratch, "copy")
        try:
            result = subprocess.run([python, "-c", SQLITE_COPY, source, copy, str(info.st_mode & 0o7777)],
                                    user=info.st_uid, group=info.st_gid, cwd=scratch, capture_output=True, text=True,
                                    check=False)
        except OSError as error:
            raise Failure(f"the SQLite backup of {source} could not start: {error}") from None
        if result.returncode != 0:
            raise Failure(f"the SQLite backup of {source} failed: {result.stderr.strip()[-1000:]}")
        shutil.move(copy, dest)
        os.chown(dest, info.st_uid, info.st_gid)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def fresh_dir(path, mode=0o700):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, mode=mode)
    os.chmod(path, mode)


def dump_postgres(config, dest):
    """pg_dump of the stack's database; a table lock held longer than
    pg_lock_wait_timeout fails the dump instead of hanging the backup."""
    container = config["postgres_container"]
    wait = shlex.quote(str(config.get("pg_lock_wait_timeout", PG_LOCK_WAIT_TIMEOUT)))
    with open(dest, "wb") as out:
        result = subprocess.run(
            ["docker", "exec", container, "sh", "-c",
             (f'exec pg_dump --format=custom --lock-wait-timeout={wait}'
              ' --username="$POSTGRES_USER" --dbname="$POSTGRES_DB"')],
            stdout=out, stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        error = result.stderr.decode(errors="replace").strip()
        why = ("a table stayed locked longer than the pg_lock_wait_timeout of "
               f"{config.get('pg_lock_wait_timeout', PG_LOCK_WAIT_TIMEOUT)} (an open transaction?): "
               if "LOCK TABLE" in error and "timeout" in error else "")
        raise Failure(f"pg_dump in {container} failed: {why}{error[-1000:]}")


def copy_row_counts(lines):
    """{table: rows} from pg_restore's SQL of a dump's data (bytes lines):
    each table's COPY and its rows, one a line, up to "\\."."""
    counts, table = {}, None
    for line in lines:
        line = line.rstrip(b"\n")
        if table is not None:
            if line == b"\\.":
                table = None
            else:
                counts[table] += 1
            continue
        match = COPY_LINE.match(line.decode(errors="replace"))
        if match:
            table = match[1]
            counts[table] = 0
    return counts


def dump_row_counts(container, dump):
    """The row count of every table as the dump holds it: its data read back
    by pg_restore (in the PostgreSQL container, which has it), so that the
    counts agree with the dump by construction."""
    # Its errors in a file: a pipe that nobody reads while the data streams
    # could fill up and stop pg_restore.
    with open(dump, "rb") as source, tempfile.TemporaryFile() as errors:
        reader = subprocess.Popen(["docker", "exec", "--interactive", container, "pg_restore", "--data-only",
                                   "--file=-"], stdin=source, stdout=subprocess.PIPE, stderr=errors)
        counts = copy_row_counts(reader.stdout)
        if reader.wait() != 0:
            errors.seek(0)
            raise Failure(f"pg_restore could not read the dump back in {container}: "
                          f"{errors.read().decode(errors='replace').strip()[-1000:]}")
    return counts


def stage_dumps(config):
    """The dumps and copies the snapshot holds besides the live files; returns
    the live files restic must leave out."""
    staging = config["staging_dir"]
    fresh_dir(staging)
    if config.get("postgres_container"):
        dump = os.path.join(staging, "postgres.dump")
        dump_postgres(config, dump)
        with open(os.path.join(staging, COUNTS), "w") as handle:
            json.dump(dump_row_counts(config["postgres_container"], dump), handle, indent=1, sort_keys=True)
    excluded = []
    data_dir = config["data_dir"]
    if os.path.isdir(data_dir):
        for relative in sqlite_databases(data_dir):
            dest = os.path.join(staging, "sqlite", relative)
            os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
            copy_sqlite(os.path.join(data_dir, relative), dest)
            live = os.path.join(data_dir, relative)
            excluded += [live] + [live + suffix for suffix in SQLITE_COMPANIONS]
        excluded += [os.path.join(data_dir, name) for name in os.listdir(data_dir) if is_restore_area(name)]
    return excluded


def backup_paths(config):
    """What the snapshot holds: the data directory, the dumps, and the
    stack's other paths that exist (symlinks such as current/secrets resolved,
    as restic keeps a symlink itself, not what it points at)."""
    paths = [config["data_dir"], config["staging_dir"]]
    for path in config.get("paths", []):
        real = os.path.realpath(path)
        if os.path.exists(real) and real not in paths:
            paths.append(real)
    return [p for p in paths if os.path.exists(p)]


def summary(output):
    for line in output.splitlines():
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if isinstance(message, dict) and message.get("message_type") == "summary":
                return message
    raise Failure(f"restic backup printed no summary: {output[-500:]}")


# The records of the last good backup and of the last restore drill, in
# state_dir.
LAST_SUCCESS = "last-success.json"
LAST_DRILL = "last-drill.json"


def read_state(config, filename):
    """A record of state_dir, or None when there is none (or it is unreadable)."""
    try:
        with open(os.path.join(config["state_dir"], filename)) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write_state(config, filename, record):
    """A record of state_dir, replaced whole."""
    path = os.path.join(config["state_dir"], filename)
    with open(path + ".new", "w") as handle:
        json.dump(record, handle)
    os.replace(path + ".new", path)


def last_success(config):
    last = read_state(config, LAST_SUCCESS)
    if last is None:
        return None
    last["age_seconds"] = int(time.time() - last.get("epoch", 0))
    return last


def age(seconds):
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def utc(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plural(count, noun):
    return f"{count} {noun}{'s' * (count != 1)}"


def capitalized(text):
    return text[:1].upper() + text[1:]


def describe_last(config):
    last = last_success(config)
    if not last:
        return "no good backup yet"
    return f"last good backup {last['snapshot']} at {last['time']} ({age(last['age_seconds'])} ago)"


@contextlib.contextmanager
def locked(config):
    """One backup, restore step or drill at a time on this VPS; one that waits
    longer than lock_timeout (plus a drill's time limit) fails (and the unit
    notifies) instead of hanging behind a stuck one."""
    os.makedirs(config["state_dir"], mode=0o700, exist_ok=True)
    timeout = int(config.get("lock_timeout", LOCK_TIMEOUT + drill_settings(config)["seconds"]))
    deadline = time.monotonic() + timeout
    with open(os.path.join(config["state_dir"], "lock"), "w") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Failure(f"another backup or restore of {config['name']} has held "
                                  f"{config['state_dir']}/lock for over {timeout} s (systemctl status "
                                  f"{config['name']}-backup.service); nothing was changed") from None
                time.sleep(1)
        yield


def machine_id(config):
    """This VPS's own id: two VPSs with one inventory host name (a copied
    staging inventory) still tell their snapshots apart."""
    path = config.get("machine_id_file", MACHINE_ID)
    try:
        with open(path) as handle:
            value = handle.read().strip()
    except OSError:
        value = ""
    if not value or value == "uninitialized":
        raise Failure(f"this machine has no id in {path} (systemd writes it at boot)")
    return value


def machine_tag(config):
    return "machine:" + machine_id(config)


def cmd_backup(config):
    name = config["name"]
    tag = machine_tag(config)
    with locked(config):
        open_repository(config, create=True)
        excluded = stage_dumps(config)
        with tempfile.NamedTemporaryFile("w", dir=config["state_dir"], suffix=".exclude") as exclude:
            exclude.write("".join(restic_pattern(p) + "\n" for p in excluded))
            exclude.flush()
            result = restic(config, "backup", "--json", "--host", config["host"], "--tag", name, "--tag", tag,
                            "--exclude-file", exclude.name, *backup_paths(config))
        done = summary(result.stdout)
        snapshot = done["snapshot_id"]
        keep = config["keep"]
        # Only this machine's snapshots of this stack: a VPS never prunes
        # another's, whatever their host names.
        restic(config, "forget", "--prune", "--host", config["host"], "--tag", f"{name},{tag}",
               "--group-by", "host,tags",
               "--keep-last", str(keep["last"]), "--keep-daily", str(keep["daily"]), "--keep-weekly", str(keep["weekly"]),
               "--keep-monthly", str(keep["monthly"]))
        now = time.time()
        write_state(config, LAST_SUCCESS, {"snapshot": snapshot, "epoch": int(now), "time": utc(now)})
        shutil.rmtree(config["staging_dir"], ignore_errors=True)
    print(f"Backup of {name} done: snapshot {snapshot} ({done.get('total_files_processed', 0)} files, "
          f"{done.get('data_added', 0)} bytes added) in {config['repository_display']}.")


def refuse(message, code):
    raise Refused(message, code)


def snapshots(config, *args):
    result = restic(config, "snapshots", "--json", *args, check=False)
    with contextlib.suppress(ValueError):
        return result.returncode, json.loads(result.stdout or "[]") or []
    return result.returncode, []


def machine_of(found):
    """The machine id a snapshot's tags name, or None (made before the tag)."""
    machines = [t.removeprefix("machine:") for t in found.get("tags") or [] if t.startswith("machine:")]
    return machines[0] if machines else None


def origin(found):
    return f"host {found.get('hostname')}, machine {machine_of(found) or 'unknown'}"


def elsewhere(config, found):
    """How the snapshot differs from this VPS's stack, in words (empty: it is ours)."""
    differences = []
    if found.get("hostname") != config["host"]:
        differences.append(f"it was taken on host {found.get('hostname')}, this is {config['host']}")
    tags = found.get("tags") or []
    if config["name"] not in tags:
        differences.append(f"it is not a snapshot of {config['name']} (tags: {', '.join(tags) or 'none'})")
    tag = machine_tag(config)
    if tag not in tags:
        differences.append(f"it was taken on another machine ({machine_of(found) or 'no machine id'}; "
                           f"this one is {tag.removeprefix('machine:')})")
    return differences


def find_snapshot(config, snapshot, from_another_vps=False):
    """The snapshot's record, refused (exit 3 or 4) unless it is this VPS's
    own snapshot of this stack or from_another_vps says otherwise. "latest"
    is this machine's newest; with from_another_vps, the newest this host
    name's stack took on another machine (the VPS this one replaces)."""
    try:
        open_repository(config)
    except Failure as error:
        refuse(str(error), EXIT_NO_REPOSITORY)
    name, host = config["name"], config["host"]
    listing = f"List the snapshots with: {name}-backup restic snapshots"
    if snapshot == "latest" and from_another_vps:
        # The dead VPS's newest, never one the new VPS took of its own empty stack.
        _, found = snapshots(config, "--host", host, "--tag", name)
        mine = machine_id(config)
        found = sorted((s for s in found if machine_of(s) != mine), key=lambda s: s["time"])
        if not found:
            refuse(f"the repository {config['repository_display']} has no snapshot of {name} from {host} "
                   f"taken on another machine. {listing}", EXIT_NO_SNAPSHOT)
        return found[-1]
    if snapshot == "latest":
        rc, found = snapshots(config, "--host", host, "--tag", f"{name},{machine_tag(config)}", "latest")
        if rc != 0 or len(found) != 1:
            _, others = snapshots(config, "--tag", name)
            newest = {}
            for other in sorted(others, key=lambda s: s["time"]):
                newest[origin(other)] = other
            hint = "".join(f"\n  {s['short_id']} of {s['time'][:19]}Z from {o}" for o, s in newest.items())
            refuse(f"the repository {config['repository_display']} has no snapshot of {name} from this VPS "
                   f"({host}, {machine_tag(config)})" + (
                       f". The newest of {name} from other VPSs:{hint}\nTo restore here the newest this host "
                       "name took on another machine (this VPS replaces a dead one): -e restore_from_another_vps=true; "
                       "another one: -e snapshot=<id> -e restore_from_another_vps=true"
                       if newest else f". {listing}"), EXIT_NO_SNAPSHOT)
        return found[0]
    rc, found = snapshots(config, snapshot)
    if rc != 0 or len(found) != 1:
        refuse(f"snapshot {snapshot} is not in the repository {config['repository_display']}. {listing}",
               EXIT_NO_SNAPSHOT)
    differences = elsewhere(config, found[0])
    if differences and not from_another_vps:
        refuse(f"snapshot {found[0]['short_id']} is not this VPS's: {'; '.join(differences)}. "
               "If it is the one you want (this VPS replaces a dead one), add -e restore_from_another_vps=true",
               EXIT_REFUSED)
    return found[0]


def restore_area(config):
    """Where a restore stages and keeps copies: on the data directory's own
    filesystem, so that putting things in place is a rename. Beside the data
    directory, or inside it when it is a mount point (its own volume)."""
    data_dir = config["data_dir"].rstrip("/")
    if os.path.ismount(data_dir):
        return {"in_place": True, "staging": os.path.join(data_dir, IN_PLACE_STAGING),
                "kept": os.path.join(data_dir, KEPT_PREFIX)}
    parent, base = os.path.dirname(data_dir), os.path.basename(data_dir)
    return {"in_place": False, "staging": os.path.join(parent, f".{base}.restore"),
            "kept": os.path.join(parent, f".{base}{KEPT_PREFIX}")}


def snapshot_contents(config, found):
    """The snapshot's data directory and dumps: {path: node}."""
    result = restic(config, "ls", "--json", "--recursive", found["id"], config["data_dir"], config["staging_dir"])
    nodes = {}
    for line in result.stdout.splitlines():
        with contextlib.suppress(ValueError):
            node = json.loads(line)
            if isinstance(node, dict) and node.get("struct_type") == "node":
                nodes[node["path"]] = node
    return nodes


def free_bytes(path):
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def megabytes(size):
    return f"{size / 1024 / 1024:.1f} MiB"


def check_snapshot_holds_the_stack(config, found):
    """Refuse, before anything is written, a snapshot without the data
    directory or the dump the stack needs, or too big for the filesystem."""
    nodes = snapshot_contents(config, found)
    data_dir, short = config["data_dir"].rstrip("/"), found["short_id"]
    if nodes.get(data_dir, {}).get("type") != "dir":
        refuse(f"snapshot {short} holds no {data_dir} (it was taken with another data directory, or of "
               "another stack): restoring it would replace the data with nothing", EXIT_REFUSED)
    dump = os.path.join(config["staging_dir"], "postgres.dump")
    if config.get("postgres_container") and dump not in nodes:
        refuse(f"snapshot {short} holds no PostgreSQL dump (it was made without app_postgres)", EXIT_REFUSED)
    needed = sum(node.get("size", 0) for node in nodes.values() if node.get("type") == "file")
    area = restore_area(config)
    filesystem = data_dir if area["in_place"] else os.path.dirname(data_dir)
    free = free_bytes(filesystem)
    if needed + SPACE_MARGIN > free:
        refuse(f"snapshot {short} needs {megabytes(needed)} (and {megabytes(SPACE_MARGIN)} to spare) on the "
               f"filesystem of {data_dir}, which has {megabytes(free)} free", EXIT_REFUSED)
    return needed


def cmd_stage(config, snapshot, from_another_vps=False):
    found = find_snapshot(config, snapshot, from_another_vps)
    check_snapshot_holds_the_stack(config, found)
    area = restore_area(config)
    target = area["staging"]
    with locked(config):
        fresh_dir(target)
        restic(config, "restore", found["id"], "--target", target,
               "--include", config["data_dir"], "--include", config["staging_dir"])
        data = target + config["data_dir"].rstrip("/")
        dumps = target + config["staging_dir"]
        if not os.path.isdir(data):
            shutil.rmtree(target)
            raise Failure(f"restic restored no {config['data_dir']} from snapshot {found['short_id']}; "
                          "nothing was changed")
        copies = os.path.join(dumps, "sqlite")
        for relative in sqlite_databases(copies) if os.path.isdir(copies) else []:
            dest = os.path.join(data, relative)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            os.replace(os.path.join(copies, relative), dest)
        dump = os.path.join(dumps, "postgres.dump")
        if config.get("postgres_container") and not os.path.exists(dump):
            shutil.rmtree(target)
            raise Failure(f"snapshot {found['short_id']} holds no PostgreSQL dump (it was made without "
                          "app_postgres); nothing was changed")
        plan = {"snapshot": found["id"], "time": found["time"], "data": data, "in_place": area["in_place"],
                "postgres_dump": dump if config.get("postgres_container") else None}
        with open(os.path.join(target, "plan.json"), "w") as handle:
            json.dump(plan, handle)
    print(json.dumps(plan))


# Restored into a clean database: every schema of the dump's kind goes first,
# so that a table created after the snapshot (a later migration) cannot
# survive beside the migration table put back. Run with the restore in one
# transaction: a failure leaves the database as it was.
CLEAN_SCHEMAS = """
DO $$ DECLARE schema text; BEGIN
  FOR schema IN SELECT nspname FROM pg_namespace
                WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', schema);
  END LOOP;
END $$;
CREATE SCHEMA public;
"""


def restore_postgres(config, dump):
    container = config["postgres_container"]
    # pg_restore writes the dump as SQL, which psql runs after the clean-up
    # in one transaction. COMMIT is sent only when pg_restore read the whole
    # dump: a cut or unreadable one ends psql's session with the transaction
    # open, and PostgreSQL rolls it back.
    script = ('set -o pipefail; { printf "BEGIN;\\n%s\\n" "$1"; pg_restore --no-owner --file=- && echo "COMMIT;"; } | '
              'psql --quiet --no-psqlrc --set=ON_ERROR_STOP=1'
              ' --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" >/dev/null')
    with open(dump, "rb") as source:
        result = subprocess.run(["docker", "exec", "--interactive", container, "bash", "-c", script, "bash",
                                 CLEAN_SCHEMAS], stdin=source, capture_output=True, check=False)
    if result.returncode != 0:
        raise Failure(f"the restore of the database in {container} failed, the database is as it was: "
                      f"{result.stderr.decode(errors='replace').strip()[-1500:]}")


def size_of(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def kept_copies(config):
    """Every copy earlier restores kept, oldest first (with the name the
    first versions gave theirs)."""
    area = restore_area(config)
    folder, prefix = os.path.split(area["kept"])
    legacy = "." + os.path.basename(config["data_dir"].rstrip("/")) + ".before-restore"
    names = sorted(n for n in os.listdir(folder) if n.startswith(prefix) or (n == legacy and not area["in_place"]))
    return [os.path.join(folder, n) for n in names]


def merge_lines(config, snapshot, path):
    """An append-only file of JSON lines (the deploy ledger) after a restore:
    the snapshot's lines and the live ones, each once, in time order; the
    live file is kept when the snapshot has none."""
    result = restic(config, "dump", snapshot, os.path.realpath(path), check=False)
    if result.returncode != 0:
        return
    try:
        with open(path) as handle:
            live = handle.read().splitlines()
    except OSError:
        live = []
    lines = list(dict.fromkeys(line for line in result.stdout.splitlines() + live if line.strip()))

    def when(line):
        with contextlib.suppress(ValueError, AttributeError):
            return json.loads(line).get("time", "")
        return ""
    lines.sort(key=when)
    new = f"{path}.merged"
    with open(os.open(new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640), "w") as handle:
        handle.write("".join(line + "\n" for line in lines))
    os.replace(new, path)


def cmd_apply(config):
    area = restore_area(config)
    target = area["staging"]
    try:
        with open(os.path.join(target, "plan.json")) as handle:
            plan = json.load(handle)
    except OSError:
        raise Failure(f"nothing is staged in {target}: run `stage` first") from None
    if plan.get("in_place", False) != area["in_place"]:
        raise Failure(f"{target} was staged before {config['data_dir']} became or stopped being a mount point: "
                      "stage again; nothing was changed")
    data_dir = config["data_dir"].rstrip("/")
    with locked(config):
        # Everything that can be checked is checked before the first change.
        if not os.path.isdir(plan["data"]):
            raise Failure(f"the staged data {plan['data']} is missing: stage again; nothing was changed")
        if os.path.exists(data_dir) and os.stat(plan["data"]).st_dev != os.stat(data_dir).st_dev:
            raise Failure(f"the staged data {plan['data']} is not on the filesystem of {data_dir}: "
                          "stage again; nothing was changed")
        kept = area["kept"] + datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        os.makedirs(kept, mode=0o700)
        if plan["postgres_dump"]:
            try:
                dump_postgres(config, os.path.join(kept, "postgres.dump"))
                restore_postgres(config, plan["postgres_dump"])
            except Failure:
                shutil.rmtree(kept, ignore_errors=True)  # nothing changed: nothing to keep
                raise
        if area["in_place"]:
            # A mount point cannot be renamed: its entries move, both ways.
            os.makedirs(os.path.join(kept, "data"), mode=0o700)
            for name in sorted(os.listdir(data_dir)):
                if not is_restore_area(name):
                    os.rename(os.path.join(data_dir, name), os.path.join(kept, "data", name))
            for name in sorted(os.listdir(plan["data"])):
                os.rename(os.path.join(plan["data"], name), os.path.join(data_dir, name))
            info = os.stat(plan["data"])
            os.chown(data_dir, info.st_uid, info.st_gid)
            os.chmod(data_dir, info.st_mode & 0o7777)
        else:
            if os.path.exists(data_dir):
                os.rename(data_dir, os.path.join(kept, "data"))
            os.rename(plan["data"], data_dir)
        shutil.rmtree(target)
        for path in config.get("merge_paths", []):
            merge_lines(config, plan["snapshot"], path)
    copies = "".join(f"\n  {path} ({megabytes(size_of(path))})" for path in kept_copies(config))
    print(f"Restored snapshot {plan['snapshot'][:8]} of {plan['time'][:19]}Z: the data directory"
          f"{' and the database' if plan['postgres_dump'] else ''}. What it replaced is kept in {kept} "
          f"(data/{', postgres.dump' if plan['postgres_dump'] else ''}).\n"
          f"Copies kept by restores, until you remove them:{copies}")


# A restore drill (`drill`): the latest snapshot of this VPS restored where
# nothing live is, and checked as a restore would need it.
DRILL_LABEL = "flask-vps.backup-drill"
DURATION = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")


def duration_seconds(text):
    """A time limit in hours, minutes and seconds ("1h", "45m", "1h30m")."""
    match = DURATION.fullmatch(str(text))
    if not str(text) or not match:
        raise Failure(f"the time limit {text!r} is not a duration such as 1h, 45m or 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def drill_settings(config):
    """The drill's bounds (backup_drill_*): its time, and its PostgreSQL
    container's memory (Docker's size) and CPUs."""
    drill = config.get("drill") or {}
    limit = str(drill.get("time_limit", "1h"))
    return {"time_limit": limit, "seconds": duration_seconds(limit), "memory": str(drill.get("memory", "1g")),
            "cpus": str(drill.get("cpus", 1))}


@contextlib.contextmanager
def time_limit(seconds, limit):
    """Fails what runs inside after `seconds`, or when systemd stops the unit
    (SIGTERM): the drill's clean-up (its finally blocks) still runs, and
    subprocess.run kills the command it was waiting for."""
    def stop(signum, _frame):
        why = (f"the drill ran over its time limit (backup_drill_time_limit: {limit})" if signum == signal.SIGALRM
               else "the drill was stopped (SIGTERM: systemctl stop, or the unit's time limit)")
        raise Failure(why)
    handlers = {sig: signal.signal(sig, stop) for sig in (signal.SIGALRM, signal.SIGTERM)}
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def drill_area(config):
    """(folder, prefix) of the drill's temporary directories: on the data
    directory's filesystem, like a restore's staging (restore_area)."""
    data_dir = config["data_dir"].rstrip("/")
    if restore_area(config)["in_place"]:
        return data_dir, DRILL_PREFIX
    return os.path.dirname(data_dir), f".{os.path.basename(data_dir)}{DRILL_PREFIX}"


def docker(*args, stdin=None, timeout=None):
    try:
        return subprocess.run(["docker", *args], stdin=stdin, capture_output=True, text=stdin is None,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise Failure(f"docker {args[0]} did not finish within {timeout} s") from None


def remove_drill_leftovers(config):
    """What a drill killed before its clean-up (SIGKILL, a crash) left: its
    directories, and its containers (labelled with this stack's state
    directory). Run under the lock: no other drill of this stack runs."""
    folder, prefix = drill_area(config)
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if name.startswith(prefix):
                shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
    if config.get("postgres_container"):
        found = docker("ps", "--all", "--quiet", "--filter", f"label={DRILL_LABEL}={config['state_dir']}")
        if found.stdout.split():
            docker("rm", "--force", "--volumes", *found.stdout.split())


def sqlite_integrity(path):
    """PRAGMA integrity_check of a restored SQLite database: "ok", or what it found."""
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            found = [row[0] for row in db.execute("PRAGMA integrity_check").fetchall()]
    except sqlite3.Error as error:
        return str(error)
    return "ok" if found == ["ok"] else "; ".join(found[:5])


def count_mismatches(recorded, restored):
    """The tables whose restored row count differs from the recorded one, in words."""
    return [f"{table} has {restored.get(table, 'no')} rows restored, {rows} in the backup"
            for table, rows in sorted(recorded.items()) if restored.get(table) != rows]


def start_throwaway_postgres(info, name, user, password, database, whose, start_limit, options):
    """Start a throwaway PostgreSQL of the image of the live container
    (inspected: info) with its container user and no privileges, plus the
    docker run options given (label, network, bounds), and wait until it
    answers; `whose` names it in a failure ("the drill's"). The caller
    removes it, whatever happens."""
    argv = ["run", "--detach", "--name", name, *options, "--pids-limit", "256",
            "--env", f"POSTGRES_USER={user}", "--env", f"POSTGRES_DB={database}", "--env", "POSTGRES_PASSWORD"]
    if info["Config"].get("User"):
        argv += ["--user", info["Config"]["User"], "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true"]
    # The password on no command line (ps shows those): docker passes the
    # variable on from its own environment. Not --rm: a container that dies
    # on its start keeps its log for the message.
    started = subprocess.run(["docker", *argv, info["Image"]], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "POSTGRES_PASSWORD": password}, check=False)
    if started.returncode != 0:
        raise Failure(f"{whose} PostgreSQL did not start: {started.stderr.strip()[-500:]}")
    # Over TCP: the image's first start serves on its socket only, until the
    # user and the database exist.
    deadline = time.monotonic() + start_limit
    while docker("exec", name, "pg_isready", "--quiet", "--host=127.0.0.1", f"--username={user}",
                 f"--dbname={database}", timeout=30).returncode != 0:
        if time.monotonic() > deadline or docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip() != "true":
            log = docker("logs", "--tail", "20", name)
            raise Failure(f"{whose} PostgreSQL did not start within {start_limit} s: "
                          f"{(log.stdout + log.stderr).strip()[-800:]}")
        time.sleep(0.5)


def restore_into_throwaway(name, user, database, dump, what):
    """pg_restore of a custom-format dump into a throwaway PostgreSQL."""
    with open(dump, "rb") as source:
        restored = docker("exec", "--interactive", name, "pg_restore", "--no-owner", "--no-privileges",
                          "--exit-on-error", f"--username={user}", f"--dbname={database}", stdin=source)
    if restored.returncode != 0:
        raise Failure(f"pg_restore of {what} failed: {restored.stderr.decode(errors='replace').strip()[-1000:]}")


def drill_postgres(config, dump, recorded):
    """pg_restore of the dump into a temporary container of the live one's
    image (same user, database and container user; no network, bounded
    memory and CPUs), then the row count of every recorded table. Returns the
    restored counts; the container is removed whatever happens."""
    live = config["postgres_container"]
    inspected = docker("inspect", live)
    if inspected.returncode != 0:
        raise Failure(f"the PostgreSQL container {live}, whose image the drill uses, is not there: "
                      f"{inspected.stderr.strip()[-300:]}")
    info = json.loads(inspected.stdout)[0]
    env = dict(item.split("=", 1) for item in info["Config"].get("Env") or [] if "=" in item)
    user = env.get("POSTGRES_USER", "postgres")
    database = env.get("POSTGRES_DB", user)
    bounds = drill_settings(config)
    name = f"{config['name']}-backup-drill-{secrets.token_hex(4)}"
    try:
        start_throwaway_postgres(
            info, name, user, secrets.token_hex(16), database, "the drill's", DRILL_POSTGRES_START,
            ["--label", f"{DRILL_LABEL}={config['state_dir']}", "--network", "none",
             "--memory", bounds["memory"], "--cpus", bounds["cpus"]])
        restore_into_throwaway(name, user, database, dump, "the dump")
        tables = sorted(recorded)
        if not tables:
            return {}
        # The names as pg_dump quoted them, so valid SQL as they are.
        query = " UNION ALL ".join(f"SELECT {i}, count(*) FROM ONLY {table}" for i, table in enumerate(tables))
        counted = docker("exec", name, "psql", "--no-psqlrc", "--tuples-only", "--no-align", "--set=ON_ERROR_STOP=1",
                         f"--username={user}", f"--dbname={database}", "--command", query)
        if counted.returncode != 0:
            raise Failure(f"the restored database could not count the rows of its tables: {counted.stderr.strip()[-800:]}")
        return {tables[int(i)]: int(n) for i, n in (line.split("|") for line in counted.stdout.split())}
    finally:
        docker("rm", "--force", "--volumes", name)


def drill_snapshot(config, found):
    """Restore the snapshot into a temporary directory and check it; returns
    (what was checked, what failed), both in words."""
    folder, prefix = drill_area(config)
    short = found["short_id"]
    stats = json.loads(restic(config, "stats", "--json", "--mode", "restore-size", found["id"]).stdout)
    free = free_bytes(folder)
    if stats["total_size"] + SPACE_MARGIN > free:
        raise Failure(f"snapshot {short} needs {megabytes(stats['total_size'])} (and {megabytes(SPACE_MARGIN)} to "
                      f"spare) on the filesystem of {folder}, which has {megabytes(free)} free")
    target = tempfile.mkdtemp(prefix=prefix, dir=folder)
    try:
        # Every blob from the repository itself (no local cache: as a new VPS
        # reads it), and every restored file read back against the snapshot.
        restic(config, "restore", found["id"], "--target", target, "--verify", cache=False)
        checked = [f"{stats['total_file_count']} files ({megabytes(stats['total_size'])}) restored and verified"]
        failures = []
        databases = sqlite_databases(target)
        for relative in databases:
            result = sqlite_integrity(os.path.join(target, relative))
            if result != "ok":
                failures.append(f"PRAGMA integrity_check of /{relative} found: {result}")
        checked.append(f"{plural(len(databases), 'SQLite database')} checked")
        if config.get("postgres_container"):
            dumps = target + config["staging_dir"]
            dump = os.path.join(dumps, "postgres.dump")
            if not os.path.exists(dump):
                failures.append(f"snapshot {short} holds no PostgreSQL dump")
            else:
                try:
                    with open(os.path.join(dumps, COUNTS)) as handle:
                        recorded = json.load(handle)
                except (OSError, ValueError):
                    recorded = None  # a backup made before the counts were recorded
                restored = drill_postgres(config, dump, recorded or {})
                if recorded is None:
                    checked.append("the PostgreSQL dump restored (its backup recorded no row counts)")
                else:
                    failures += count_mismatches(recorded, restored)
                    checked.append(f"the PostgreSQL dump restored: {plural(len(recorded), 'table')}, "
                                   f"{plural(sum(recorded.values()), 'row')} as recorded")
        return checked, failures
    finally:
        shutil.rmtree(target, ignore_errors=True)


def drill_status(config, now=None):
    """The last drill and the last verified restore (a drill that passed),
    with their ages and a line for people."""
    now = time.time() if now is None else now
    last = read_state(config, LAST_DRILL)
    good = dict((last or {}).get("last_ok") or {}) or None
    if good:
        good["age_seconds"] = int(now - good["epoch"])
        text = (f"last verified restore: {age(good['age_seconds'])} ago (snapshot {good['snapshot'][:8]} "
                f"of {good['snapshot_time']})")
    else:
        text = "last verified restore: never"
    if last and not last["ok"]:
        text += (f"; the last drill, {age(int(now - last['epoch']))} ago, FAILED: "
                 f"{'; '.join(last['failures'])[:500]}")
    # One line: restic's errors come a line each.
    return {"last": last, "verified": good, "message": capitalized(" ".join(text.split())) + "."}


def cmd_drill(config):
    name = config["name"]
    bounds = drill_settings(config)
    started = time.time()
    record = {"epoch": int(started), "time": utc(started), "snapshot": None, "snapshot_time": None,
              "ok": False, "failures": []}
    checked = []
    try:
        with time_limit(bounds["seconds"], bounds["time_limit"]), locked(config):
            remove_drill_leftovers(config)
            if not last_success(config):
                # A new VPS before its first backup (the backups alert on
                # their own): nothing to drill yet, nothing wrong.
                print(f"Restore drill of {name}: nothing to drill yet, no backup has succeeded on this VPS.")
                return 0
            found = find_snapshot(config, "latest")
            record.update(snapshot=found["id"], snapshot_time=found["time"][:19] + "Z")
            checked, record["failures"] = drill_snapshot(config, found)
    except Failure as error:
        record["failures"].append(str(error))
    record["ok"] = not record["failures"]
    record["seconds"] = int(time.time() - started)
    previous = read_state(config, LAST_DRILL) or {}
    record["last_ok"] = ({key: record[key] for key in ("epoch", "time", "snapshot", "snapshot_time")}
                         if record["ok"] else previous.get("last_ok"))
    write_state(config, LAST_DRILL, record)
    short = (record["snapshot"] or "")[:8] or "(none)"
    if not record["ok"]:
        raise Failure(f"the restore drill of snapshot {short} failed: {'; '.join(record['failures'])}")
    print(f"Restore drill of {name} passed in {record['seconds']} s: snapshot {short} of {record['snapshot_time']}, "
          f"{', '.join(checked)}.")
    return 0


# Snapshots before a release command (`snapshot`, `migration`,
# `snapshot-restore`): the stack's own, on the VPS, beside its releases.
SNAPSHOT_RECORD = "snapshot.json"
SNAPSHOT_DUMP = "postgres.dump"
# Alembic's table of the revision the schema is at (several rows: branches).
MIGRATION_TABLE = "alembic_version"
MIGRATION_QUERY = f"SELECT version_num FROM {MIGRATION_TABLE} ORDER BY 1"
SQLITE_MIGRATION = f"""
import json, sqlite3, sys
with sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=60) as db:
    found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{MIGRATION_TABLE}'").fetchall()
    rows = db.execute("{MIGRATION_QUERY}").fetchall() if found else None
print(json.dumps(None if rows is None else [str(row[0]) for row in rows]))
"""


def migration_text(versions):
    """A migration version as shown and recorded: the revisions joined by
    commas, or None when the database has no migration table (or it is empty)."""
    return ",".join(versions) if versions else None


def postgres_migration(container):
    """The revisions in the PostgreSQL database's alembic_version table
    (search_path's schema), or None when it has no such table."""
    script = ('psql --quiet --no-psqlrc --tuples-only --no-align --set=ON_ERROR_STOP=1'
              ' --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" --command="$1"')
    def psql(sql):
        result = subprocess.run(["docker", "exec", container, "sh", "-c", script, "sh", sql],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise Failure(f"the migration version could not be read in {container}: {result.stderr.strip()[-500:]}")
        return result.stdout.split()
    if psql(f"SELECT to_regclass('{MIGRATION_TABLE}') IS NOT NULL") != ["t"]:
        return None
    return psql(MIGRATION_QUERY)


def sqlite_migration(path, python=sys.executable):
    """The revisions in a SQLite database's alembic_version table, or None.
    Read by the database's owner, like the copies (copy_sqlite)."""
    info = os.stat(path)
    result = subprocess.run([python, "-c", SQLITE_MIGRATION, path], user=info.st_uid, group=info.st_gid,
                            cwd="/", capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise Failure(f"the migration version of {path} could not be read: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout)


def database_migration(postgres, data_dir, databases):
    """The migration version of the stack's database: PostgreSQL's when it
    has the table, else the first SQLite database's (of `databases`, paths
    relative to data_dir) that has one; None when none has."""
    if postgres:
        versions = postgres_migration(postgres)
        if versions is not None:
            return migration_text(versions)
    for relative in databases:
        versions = sqlite_migration(os.path.join(data_dir, relative))
        if versions is not None:
            return migration_text(versions)
    return None


def read_snapshot(directory):
    """A snapshot's record, or a Failure that names what is missing."""
    try:
        with open(os.path.join(directory, SNAPSHOT_RECORD)) as handle:
            record = json.load(handle)
    except (OSError, ValueError) as error:
        raise Failure(f"there is no snapshot in {directory} ({error})") from None
    missing = [name for name in ([record["postgres"]] if record.get("postgres") else [])
               + [os.path.join("sqlite", db["path"]) for db in record.get("sqlite", [])]
               if not os.path.isfile(os.path.join(directory, name))]
    if missing:
        raise Failure(f"the snapshot in {directory} lacks {', '.join(missing)}")
    return record


def write_record(directory, record):
    path = os.path.join(directory, SNAPSHOT_RECORD)
    with open(os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
    os.replace(path + ".new", path)


def cmd_snapshot(directory, data_dir, postgres, extra=None):
    """A snapshot of the database into directory (replaced whole once
    complete, so a failed one leaves the previous one): root's alone."""
    databases = sqlite_databases(data_dir) if os.path.isdir(data_dir) else []
    if not postgres and not databases:
        return {"snapshot": None, "why": f"no PostgreSQL and no SQLite database in {data_dir}"}
    directory = directory.rstrip("/")
    parent = os.path.dirname(directory)
    os.makedirs(parent, mode=0o700, exist_ok=True)
    os.chmod(parent, 0o700)
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(directory)}.", dir=parent)
    try:
        started = time.time()
        record = {"time": utc(started), "epoch": int(started), "postgres": None, "sqlite": [], **(extra or {})}
        if postgres:
            dump_postgres({"postgres_container": postgres}, os.path.join(work, SNAPSHOT_DUMP))
            os.chmod(os.path.join(work, SNAPSHOT_DUMP), 0o600)
            record["postgres"] = SNAPSHOT_DUMP
        for relative in databases:
            live = os.path.join(data_dir, relative)
            dest = os.path.join(work, "sqlite", relative)
            os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
            copy_sqlite(live, dest)
            info = os.stat(live)
            # Root's in the snapshot; its owner and mode come back with it.
            os.chown(dest, 0, 0)
            os.chmod(dest, 0o600)
            record["sqlite"].append({"path": relative, "uid": info.st_uid, "gid": info.st_gid,
                                     "mode": info.st_mode & 0o7777})
        # PostgreSQL's read after its dump, SQLite's from the copies: nothing
        # runs a migration while the snapshot is taken (the deploy lock).
        record["migration"] = database_migration(postgres, os.path.join(work, "sqlite"), databases)
        write_record(work, record)
        if os.path.exists(directory):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(directory)}.old.", dir=parent)
            os.rename(directory, os.path.join(old, "snapshot"))
            os.rename(work, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(work, directory)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return {"snapshot": directory, **record}


def cmd_snapshot_restore(directory, kept, data_dir, postgres):
    """Put the database back as the snapshot holds it, the live one kept in
    `kept` first. Everything is checked before the first change; PostgreSQL
    goes back in one transaction (a failure leaves it as it was)."""
    record = read_snapshot(directory)
    if record.get("postgres") and not postgres:
        raise Failure(f"the snapshot in {directory} holds a PostgreSQL dump and the stack has no PostgreSQL")
    if postgres and not record.get("postgres"):
        raise Failure(f"the snapshot in {directory} holds no PostgreSQL dump (it was taken without app_postgres)")
    if os.path.exists(kept):
        raise Failure(f"{kept} exists already: nothing was changed")
    os.makedirs(kept, mode=0o700)
    os.chmod(kept, 0o700)
    restored = []
    if postgres:
        try:
            dump_postgres({"postgres_container": postgres}, os.path.join(kept, SNAPSHOT_DUMP))
            os.chmod(os.path.join(kept, SNAPSHOT_DUMP), 0o600)
            restore_postgres({"postgres_container": postgres}, os.path.join(directory, SNAPSHOT_DUMP))
        except Failure:
            shutil.rmtree(kept, ignore_errors=True)  # nothing changed: nothing to keep
            raise
        restored.append("the PostgreSQL database")
    for database in record.get("sqlite", []):
        live = os.path.join(data_dir, database["path"])
        if os.path.exists(live):
            copy = os.path.join(kept, "sqlite", database["path"])
            os.makedirs(os.path.dirname(copy), mode=0o700, exist_ok=True)
            copy_sqlite(live, copy)
        os.makedirs(os.path.dirname(live), exist_ok=True)
        new = live + ".snapshot-restore"
        shutil.copyfile(os.path.join(directory, "sqlite", database["path"]), new)
        os.chown(new, database["uid"], database["gid"])
        os.chmod(new, database["mode"])
        # The old database's journal would be applied to the one put back.
        for suffix in SQLITE_COMPANIONS:
            with contextlib.suppress(FileNotFoundError):
                os.remove(live + suffix)
        os.replace(new, live)
        restored.append(database["path"])
    return {"restored": restored, "time": record["time"], "migration": record.get("migration"), "kept": kept}


# A rehearsal's throwaway PostgreSQL: how long it may take to start.
REHEARSAL_POSTGRES_START = 120


def rehearsal_start(directory, live, name, connection_file):
    """A throwaway PostgreSQL restored from the snapshot's dump, alone on an
    internal network `name`, made for the release's own connection string
    (connection_file, a postgresql:// URL): its user, password and database,
    answering under its host name there. Returns what was started and how
    long the restore took; removes what it started when it fails."""
    record = read_snapshot(directory)
    if not record.get("postgres"):
        raise Failure(f"the snapshot in {directory} holds no PostgreSQL dump to rehearse on")
    try:
        with open(connection_file) as handle:
            url = urllib.parse.urlsplit(handle.read().strip())
    except OSError as error:
        raise Failure(f"the connection string {connection_file} cannot be read: {error}") from None
    user, password = urllib.parse.unquote(url.username or ""), urllib.parse.unquote(url.password or "")
    database, alias = urllib.parse.unquote(url.path.lstrip("/")) or user, url.hostname
    if not (url.scheme.startswith("postgres") and user and password and alias):
        raise Failure(f"{connection_file} is not a postgresql://user:password@host/database connection string")
    inspected = docker("inspect", live)
    if inspected.returncode != 0:
        raise Failure(f"the PostgreSQL container {live}, whose image the rehearsal uses, is not there: "
                      f"{inspected.stderr.strip()[-300:]}")
    info = json.loads(inspected.stdout)[0]
    rehearsal_stop(name)
    started = time.monotonic()
    try:
        created = docker("network", "create", "--internal", "--label", f"{DRILL_LABEL}={name}", name)
        if created.returncode != 0:
            raise Failure(f"the rehearsal's network could not be created: {created.stderr.strip()[-300:]}")
        start_throwaway_postgres(
            info, name, user, password, database, "the rehearsal's", REHEARSAL_POSTGRES_START,
            ["--label", f"{DRILL_LABEL}={name}", "--network", name, "--network-alias", alias, "--memory", "1g"])
        restore_into_throwaway(name, user, database, os.path.join(directory, SNAPSHOT_DUMP), "the snapshot")
    except BaseException:
        rehearsal_stop(name)
        raise
    return {"container": name, "network": name, "alias": alias, "seconds": round(time.monotonic() - started, 1)}


def rehearsal_stop(name):
    """Remove a rehearsal's container and network, whichever exist."""
    docker("rm", "--force", "--volumes", name)
    docker("network", "rm", name)
    return {"removed": name}


def snapshot_main(command, args):
    """The snapshot commands: their own arguments, no configuration file."""
    parser = argparse.ArgumentParser(prog=f"backup {command}")
    if command not in ("migration", "rehearsal-stop"):
        parser.add_argument("directory")
    if command.startswith("rehearsal-"):
        parser.add_argument("--name", required=True)
        parser.add_argument("--postgres-container", required=command == "rehearsal-start")
        parser.add_argument("--connection-file", required=command == "rehearsal-start")
    else:
        parser.add_argument("--data-dir", required=True)
        parser.add_argument("--postgres-container", default="")
    if command == "snapshot":
        parser.add_argument("--labels", default="{}", metavar="JSON",
                            help="an object recorded in snapshot.json (the release, the release live then)")
    elif command == "migration":
        parser.add_argument("--record", metavar="DIR", help="the snapshot whose record gets it as migration_after")
    elif command == "snapshot-restore":
        parser.add_argument("--kept", required=True)
    options = parser.parse_args(args)
    try:
        if command == "snapshot":
            labels = json.loads(options.labels)
            if not isinstance(labels, dict):
                raise Failure(f"--labels {options.labels} is not a JSON object")
            result = cmd_snapshot(options.directory, options.data_dir, options.postgres_container, labels)
        elif command == "migration":
            databases = sqlite_databases(options.data_dir) if os.path.isdir(options.data_dir) else []
            result = {"migration": database_migration(options.postgres_container, options.data_dir, databases)}
            if options.record:
                record = read_snapshot(options.record)
                record["migration_after"] = result["migration"]
                write_record(options.record, record)
        elif command == "rehearsal-start":
            result = rehearsal_start(options.directory, options.postgres_container, options.name,
                                     options.connection_file)
        elif command == "rehearsal-stop":
            result = rehearsal_stop(options.name)
        else:
            result = cmd_snapshot_restore(options.directory, options.kept, options.data_dir,
                                          options.postgres_container)
    except Failure as error:
        print(f"{command} FAILED: {error}.", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2
    if argv[1] in ("snapshot", "migration", "snapshot-restore", "rehearsal-start", "rehearsal-stop"):
        return snapshot_main(argv[1], argv[2:])
    name = os.path.basename(argv[0]).removesuffix("-backup")
    config = load_config(os.environ.get("FLASK_VPS_BACKUP_CONFIG", CONFIG.format(name=name)))
    config["repository_display"] = display(config["repository"])
    config.setdefault("host", config["name"])
    command, args = argv[1], argv[2:]
    try:
        if command == "backup":
            cmd_backup(config)
        elif command == "check":
            open_repository(config)
            restic(config, "check", capture=False)
        elif command == "status":
            print(json.dumps({**(last_success(config) or {"snapshot": None}),
                              "message": capitalized(describe_last(config)) + ".", "drill": drill_status(config)}))
        elif command in ("find", "stage"):
            from_another_vps = "--from-another-vps" in args
            named = [a for a in args if a != "--from-another-vps"]
            snapshot = named[0] if named else "latest"
            if command == "find":
                print(json.dumps(find_snapshot(config, snapshot, from_another_vps)))
            else:
                cmd_stage(config, snapshot, from_another_vps)
        elif command == "apply":
            cmd_apply(config)
        elif command == "drill":
            return cmd_drill(config)
        elif command == "restic":
            return restic(config, *args, check=False, capture=False).returncode
        else:
            print(f"unknown command {command}\n{__doc__}", file=sys.stderr)
            return 2
    except Refused as error:
        print(f"Restore refused: {error}. Nothing was changed.", file=sys.stderr)
        return error.code
    except Failure as error:
        print(f"{command} of {config['name']} FAILED: {error}. {capitalized(describe_last(config))}.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
