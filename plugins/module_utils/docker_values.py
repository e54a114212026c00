"""Docker's values as this project accepts them, one grammar each: memory
sizes, health-check durations, the host's architecture in apt's words and
registry repositories with their host.

Preflight's checks (plugins/filter/input_checks.py) refuse in words what
these refuse; the roles' filters (plugins/filter/app_release.py,
plugins/filter/docker_values.py) read the same values with the same grammar,
so a value preflight let through is one the roles understand. Each parser
raises ValueError for a value outside its grammar.
"""

import re

# A memory size: a number of bytes with an optional unit b, k, m or g, which
# may be followed by b ("512m", "1g", "64kb", "536870912"). Docker reads
# more ("1.5g", "512 MB"); these are the ones preflight names to users.
MEMORY_SIZE = re.compile(r"([0-9]+)([bkmgBKMG]|[kmgKMG][bB])?")
MEMORY_UNITS = {"b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
# Docker's smallest memory limit.
MIN_MEMORY_BYTES = 6 * 1024 ** 2

# A health-check duration: whole hours, minutes and seconds, each with its
# unit, in that order ("5s", "1m30s", "1h"). Docker reads fractions and ms
# too; these are the ones preflight names to users.
DURATION = re.compile(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")

# Ansible's architecture fact -> the name Debian's and Docker's apt
# repositories give it. Its keys are the architectures this project supports.
APT_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}
SUPPORTED_ARCHITECTURES = list(APT_ARCHITECTURES)

# A DNS label (a part of a host name between dots), for host names here and
# in preflight's checks.
HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# A registry repository: [host[:port]/]path, Docker's reference grammar
# without tag or digest (the release id is the tag), host parts as DNS labels.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REGISTRY_REPOSITORY = re.compile(
    rf"(?:{HOST_LABEL}(?:\.{HOST_LABEL})*(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
# Docker's longest repository name.
REGISTRY_REPOSITORY_MAX = 255


def memory_bytes(size):
    """A memory size ("512m", "1G", "1048576") in bytes."""
    match = MEMORY_SIZE.fullmatch(str(size))
    if not match:
        raise ValueError(f"not a Docker memory size: {size!r}")
    return int(match[1]) * MEMORY_UNITS[(match[2] or "b")[0].lower()]


def duration_seconds(duration, zero_allowed=False):
    """A health-check duration ("3s", "1m30s", "1h") in seconds. Zero, as
    "0s", only where zero_allowed (the start period): Docker takes a zero
    interval or timeout for "use the default" (30s)."""
    text = str(duration)
    match = DURATION.fullmatch(text)
    if not text or not match or (text == "0s" and not zero_allowed):
        raise ValueError(f"not a health-check duration: {duration!r}")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def apt_architecture(architecture):
    """apt's name ("arm64") for an architecture as Ansible's fact names it
    ("aarch64")."""
    try:
        return APT_ARCHITECTURES[str(architecture)]
    except KeyError:
        raise ValueError(f"not a supported architecture: {architecture!r} (supported: "
                         f"{', '.join(SUPPORTED_ARCHITECTURES)})") from None


def is_registry_repository(repository):
    """Whether a value is a registry repository (registry.example.com/team/app,
    registry:5000/app, you/app)."""
    text = str(repository)
    return len(text) <= REGISTRY_REPOSITORY_MAX and REGISTRY_REPOSITORY.fullmatch(text) is not None


def registry_host(repository):
    """The registry host[:port] of a registry repository, "" for Docker Hub or
    no repository. Docker's rule: the part before the first / is a host when
    it has a . or :, is localhost or has capitals; otherwise, or without a /,
    the repository is on Docker Hub."""
    text = str(repository or "")
    if not text:
        return ""
    if not is_registry_repository(text):
        raise ValueError(f"not a registry repository: {repository!r}")
    first, slash, _ = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        return first
    return ""
