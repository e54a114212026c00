#!/usr/bin/python
"""Package the app source on the controller as one archive.

Runs on the controller (delegate_to: localhost). It decides which files
belong to a release, the way `docker build` reads a `.dockerignore`, and
packs exactly those into one tar.gz named by the digest of their paths,
modes and contents. The release id and the push use this one list, so
a file that is not pushed cannot change the release id.
"""

import gzip
import hashlib
import io
import os
import re
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: app_source
short_description: Package an app source directory as one archive
description:
  - Lists the files of I(src) that are not excluded by I(exclude) followed by
    the patterns of the app's own C(.dockerignore) (Docker's syntax, C(!) to
    re-include), then writes them to C(<archive_dir>/<digest>.tar.gz) unless
    that archive exists already.
  - C(Dockerfile) and C(.dockerignore) are always included, as C(docker build) does.
options:
  src:
    description: The app directory.
    type: path
    required: true
  exclude:
    description: Patterns excluded before the app's own C(.dockerignore) is applied.
    type: list
    elements: str
    default: []
  archive_dir:
    description: Directory on the controller that holds the archives.
    type: path
    required: true
"""

RETURN = r"""
digest:
  description: SHA-256 of the packaged paths, modes and contents.
  type: str
files:
  description: The packaged paths, relative to I(src), sorted.
  type: list
archive:
  description: Path of the archive.
  type: str
"""

ALWAYS_INCLUDED = {"Dockerfile", ".dockerignore"}
# Archives of earlier sources unused for this long are removed.
ARCHIVE_MAX_AGE = 7 * 24 * 3600


def pattern_regex(pattern):
    """Docker's .dockerignore pattern as a regex over '/'-separated paths:
    `*` and `?` stay within one path element, `**` spans any number."""
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def parse_patterns(lines):
    """[(regex, excludes)] from .dockerignore lines, in order."""
    rules = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        line = line.lstrip("!").strip()
        line = os.path.normpath(line).lstrip("/")
        if line in ("", "."):
            continue
        rules.append((pattern_regex(line), excludes))
    return rules


def is_excluded(path, rules):
    """Docker's rule: the last pattern matching the path or one of its parent
    directories decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for regex, excludes in rules:
        if any(regex.match(candidate) for candidate in candidates):
            excluded = excludes
    return excluded


def release_files(src, exclude):
    """Sorted relative paths of the regular files that belong to a release."""
    lines = list(exclude)
    dockerignore = os.path.join(src, ".dockerignore")
    if os.path.isfile(dockerignore):
        with open(dockerignore, encoding="utf-8") as handle:
            lines += handle.read().splitlines()
    rules = parse_patterns(lines)
    files = []
    for root, dirs, names in os.walk(src):
        dirs.sort()
        for name in names:
            full = os.path.join(root, name)
            rel = os.path.relpath(full, src).replace(os.sep, "/")
            if not os.path.isfile(full) or os.path.islink(full):
                continue
            if rel in ALWAYS_INCLUDED or not is_excluded(rel, rules):
                files.append(rel)
    return sorted(files)


def file_mode(path):
    return 0o755 if os.stat(path).st_mode & 0o111 else 0o644


def source_digest(src, files):
    digest = hashlib.sha256()
    for rel in files:
        full = os.path.join(src, rel)
        digest.update(f"{rel}\0{file_mode(full):o}\0".encode())
        with open(full, "rb") as handle:
            digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def content_mtime(data):
    """A modification time that changes with the content. BuildKit keeps the
    build context of earlier builds and re-reads only files whose size or
    time changed: a time made from the content never hides an edit that
    kept the size, and the same files always give the same archive."""
    return 1_000_000_000 + int(hashlib.sha256(data).hexdigest()[:7], 16)


def write_archive(src, files, path):
    """A tar.gz with fixed owners and modes, and times from the content."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in files:
            full = os.path.join(src, rel)
            with open(full, "rb") as handle:
                data = handle.read()
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            info.mode = file_mode(full)
            info.mtime = content_mtime(data)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(buffer.getvalue())
    os.replace(tmp, path)


def remove_old_archives(archive_dir, keep):
    now = time.time()
    for name in os.listdir(archive_dir):
        path = os.path.join(archive_dir, name)
        if path != keep and name.endswith(".tar.gz") and now - os.path.getmtime(path) > ARCHIVE_MAX_AGE:
            os.remove(path)


def main():
    module = AnsibleModule(
        argument_spec={
            "src": {"type": "path", "required": True},
            "exclude": {"type": "list", "elements": "str", "default": []},
            "archive_dir": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    src = module.params["src"]
    if not os.path.isdir(src):
        module.fail_json(msg=f"app_src {src} is not a directory on the controller.")
    files = release_files(src, module.params["exclude"])
    digest = source_digest(src, files)
    archive_dir = module.params["archive_dir"]
    os.makedirs(archive_dir, mode=0o700, exist_ok=True)
    archive = os.path.join(archive_dir, f"{digest}.tar.gz")
    # A cache on the controller: writing it changes nothing on the VPS.
    if not os.path.exists(archive):
        write_archive(src, files, archive)
    else:
        os.utime(archive)
    remove_old_archives(archive_dir, archive)
    module.exit_json(changed=False, digest=digest, files=files, archive=archive)


if __name__ == "__main__":
    main()
