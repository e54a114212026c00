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
                    the repository does not have it, 2 when it cannot be opened.
  stage SNAPSHOT    restore the snapshot's data and dumps beside the data
                    directory, ready for `apply`; the live data is untouched.
  apply             put the staged snapshot in place: pg_restore into the
                    running PostgreSQL container, then swap the data directory.
  restic ARGS...    restic itself with this stack's repository and password.

A failure prints what failed and the last good backup, and exits non-zero
(the systemd unit is then failed, and OnFailure= notifies).
"""

import contextlib
import datetime
import fcntl
import json
import os
import shlex
import shutil
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


class Failure(Exception):
    """What went wrong, in words; the command exits non-zero with it."""


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
    argv = ["restic", "--repo", config["repository"], "--password-file", config["password_file"],
            "--cache-dir", config["cache_dir"]]
    command = sftp_command(config["repository"], config.get("ssh_config") or "/dev/null")
    if command:
        argv += ["--option", f"sftp.command={command}"]
    return argv + list(args)


def restic(config, *args, check=True, capture=True, stdin=None):
    env = {**os.environ, **{str(k): str(v) for k, v in config["environment"].items()}}
    result = subprocess.run(restic_argv(config, *args), env=env, text=True, stdin=stdin,
                            capture_output=capture, check=False)
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


def sqlite_databases(data_dir):
    """Relative paths of the SQLite databases under data_dir, sorted."""
    found = []
    for root, dirs, files in os.walk(data_dir):
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
    container = config["postgres_container"]
    with open(dest, "wb") as out:
        result = subprocess.run(
            ["docker", "exec", container, "sh", "-c",
             'exec pg_dump --format=custom --username="$POSTGRES_USER" --dbname="$POSTGRES_DB"'],
            stdout=out, stderr=subprocess.PIPE, check=False)
    if result.returncode != 0:
        raise Failure(f"pg_dump in {container} failed: {result.stderr.decode(errors='replace').strip()[-1000:]}")


def stage_dumps(config):
    """The dumps and copies the snapshot holds besides the live files; returns
    the live files restic must leave out."""
    staging = config["staging_dir"]
    fresh_dir(staging)
    if config.get("postgres_container"):
        dump_postgres(config, os.path.join(staging, "postgres.dump"))
    excluded = []
    data_dir = config["data_dir"]
    if os.path.isdir(data_dir):
        for relative in sqlite_databases(data_dir):
            dest = os.path.join(staging, "sqlite", relative)
            os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
            copy_sqlite(os.path.join(data_dir, relative), dest)
            live = os.path.join(data_dir, relative)
            excluded += [live] + [live + suffix for suffix in SQLITE_COMPANIONS]
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


def last_success(config):
    try:
        with open(os.path.join(config["state_dir"], "last-success.json")) as handle:
            last = json.load(handle)
    except (OSError, ValueError):
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


def capitalized(text):
    return text[:1].upper() + text[1:]


def describe_last(config):
    last = last_success(config)
    if not last:
        return "no good backup yet"
    return f"last good backup {last['snapshot']} at {last['time']} ({age(last['age_seconds'])} ago)"


@contextlib.contextmanager
def locked(config):
    """One backup or restore step at a time on this VPS."""
    os.makedirs(config["state_dir"], mode=0o700, exist_ok=True)
    with open(os.path.join(config["state_dir"], "lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def cmd_backup(config):
    name = config["name"]
    with locked(config):
        open_repository(config, create=True)
        excluded = stage_dumps(config)
        with tempfile.NamedTemporaryFile("w", dir=config["state_dir"], suffix=".exclude") as exclude:
            exclude.write("".join(restic_pattern(p) + "\n" for p in excluded))
            exclude.flush()
            result = restic(config, "backup", "--json", "--host", config["host"], "--tag", name,
                            "--exclude-file", exclude.name, *backup_paths(config))
        done = summary(result.stdout)
        snapshot = done["snapshot_id"]
        keep = config["keep"]
        restic(config, "forget", "--prune", "--host", config["host"], "--tag", name, "--group-by", "host,tags",
               "--keep-last", str(keep["last"]), "--keep-daily", str(keep["daily"]), "--keep-weekly", str(keep["weekly"]),
               "--keep-monthly", str(keep["monthly"]))
        now = time.time()
        record = {"snapshot": snapshot, "epoch": int(now),
                  "time": datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        state = os.path.join(config["state_dir"], "last-success.json")
        with open(state + ".new", "w") as handle:
            json.dump(record, handle)
        os.replace(state + ".new", state)
        shutil.rmtree(config["staging_dir"], ignore_errors=True)
    print(f"Backup of {name} done: snapshot {snapshot} ({done.get('total_files_processed', 0)} files, "
          f"{done.get('data_added', 0)} bytes added) in {config['repository_display']}.")


def find_snapshot(config, snapshot):
    """The snapshot's record; "latest" is this stack's newest."""
    try:
        open_repository(config)
    except Failure as error:
        print(f"Restore refused: {error}. Nothing was changed.", file=sys.stderr)
        raise SystemExit(EXIT_NO_REPOSITORY) from None
    args = ["snapshots", "--json"]
    if snapshot == "latest":
        args += ["--host", config["host"], "--tag", config["name"]]
    result = restic(config, *args, snapshot, check=False)
    found = []
    with contextlib.suppress(ValueError):
        found = json.loads(result.stdout or "[]") or []
    if result.returncode != 0 or len(found) != 1:
        print(f"Restore refused: snapshot {snapshot} is not in the repository {config['repository_display']}"
              f"{' (it has no snapshot of ' + config['name'] + ' from ' + config['host'] + ' yet)' if snapshot == 'latest' else ''}. "
              "Nothing was changed. List the snapshots with: "
              f"{config['name']}-backup restic snapshots", file=sys.stderr)
        raise SystemExit(EXIT_NO_SNAPSHOT)
    return found[0]


def restore_dir(config):
    """Beside the data directory, so that the swap is a rename."""
    data_dir = config["data_dir"].rstrip("/")
    return os.path.join(os.path.dirname(data_dir), "." + os.path.basename(data_dir) + ".restore")


def cmd_stage(config, snapshot):
    found = find_snapshot(config, snapshot)
    target = restore_dir(config)
    with locked(config):
        fresh_dir(target)
        restic(config, "restore", found["id"], "--target", target,
               "--include", config["data_dir"], "--include", config["staging_dir"])
        data = target + config["data_dir"]
        dumps = target + config["staging_dir"]
        if not os.path.isdir(data):
            info = os.stat(config["data_dir"])
            os.makedirs(data)
            os.chown(data, info.st_uid, info.st_gid)
            os.chmod(data, info.st_mode & 0o7777)
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
        plan = {"snapshot": found["id"], "time": found["time"], "data": data,
                "postgres_dump": dump if config.get("postgres_container") else None}
        with open(os.path.join(target, "plan.json"), "w") as handle:
            json.dump(plan, handle)
    print(json.dumps(plan))


def cmd_apply(config):
    target = restore_dir(config)
    try:
        with open(os.path.join(target, "plan.json")) as handle:
            plan = json.load(handle)
    except OSError:
        raise Failure(f"nothing is staged in {target}: run `stage` first") from None
    with locked(config):
        if plan["postgres_dump"]:
            container = config["postgres_container"]
            with open(plan["postgres_dump"], "rb") as dump:
                result = subprocess.run(
                    ["docker", "exec", "--interactive", container, "sh", "-c",
                     ('exec pg_restore --clean --if-exists --no-owner --single-transaction'
                      ' --username="$POSTGRES_USER" --dbname="$POSTGRES_DB"')],
                    stdin=dump, capture_output=True, check=False)
            if result.returncode != 0:
                raise Failure(f"pg_restore in {container} failed, the database is as it was: "
                              f"{result.stderr.decode(errors='replace').strip()[-1500:]}")
        data_dir = config["data_dir"].rstrip("/")
        before = os.path.join(os.path.dirname(data_dir), "." + os.path.basename(data_dir) + ".before-restore")
        shutil.rmtree(before, ignore_errors=True)
        if os.path.exists(data_dir):
            os.rename(data_dir, before)
        os.rename(plan["data"], data_dir)
        shutil.rmtree(target)
    print(f"Restored snapshot {plan['snapshot'][:8]} of {plan['time']}: the data directory"
          f"{' and the database' if plan['postgres_dump'] else ''}; the data it replaced is in {before}.")


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(argv) >= 2 else 2
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
                              "message": capitalized(describe_last(config)) + "."}))
        elif command == "find":
            print(json.dumps(find_snapshot(config, args[0] if args else "latest")))
        elif command == "stage":
            cmd_stage(config, args[0] if args else "latest")
        elif command == "apply":
            cmd_apply(config)
        elif command == "restic":
            return restic(config, *args, check=False, capture=False).returncode
        else:
            print(f"unknown command {command}\n{__doc__}", file=sys.stderr)
            return 2
    except Failure as error:
        print(f"{command} of {config['name']} FAILED: {error}. {capitalized(describe_last(config))}.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
