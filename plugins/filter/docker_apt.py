"""Filters for Docker CE's apt repository: legacy apt-key keys, versions."""

# Docker's release signing key (https://download.docker.com/linux/debian/gpg).
DOCKER_KEY_FINGERPRINTS = {"9DC858229FC7DD38854AE2D88D81803C0EBFCD88"}
DOCKER_KEY_EMAIL = "<docker@docker.com>"


def docker_legacy_keys(colons):
    """Fingerprints of Docker's keys in `gpg --with-colons --list-keys` output:
    Docker's own fingerprint, or a user ID with Docker's address."""
    found = []
    fingerprint = None
    in_primary = False
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            in_primary = True
            fingerprint = None
        elif fields[0] == "sub":
            in_primary = False
        elif fields[0] == "fpr" and in_primary and fingerprint is None:
            fingerprint = fields[9]
            if fingerprint in DOCKER_KEY_FINGERPRINTS and fingerprint not in found:
                found.append(fingerprint)
        elif (fields[0] == "uid" and fingerprint and DOCKER_KEY_EMAIL in fields[9]
              and fingerprint not in found):
            found.append(fingerprint)
    return found


def docker_apt_version(version, major, codename):
    """Docker CE's apt version for an upstream version ("27.5.1" ->
    "5:27.5.1-1~debian.12~bookworm"); a full apt version is kept."""
    version = str(version)
    if ":" in version or "-" in version:
        return version
    return f"5:{version}-1~debian.{major}~{codename}"


def apt_package_versions(packages_index, package):
    """The versions of PACKAGE listed in an apt Packages index."""
    versions = []
    for stanza in packages_index.split("\n\n"):
        fields = {}
        for line in stanza.splitlines():
            if line[:1] not in (" ", "\t") and ":" in line:
                key, value = line.split(":", 1)
                fields[key.strip()] = value.strip()
        if fields.get("Package") == package and "Version" in fields:
            versions.append(fields["Version"])
    return versions


def apt_release_field(release, field):
    """A field of an apt Release file, split into words (Architectures, Components)."""
    for line in release.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].split()
    return []


class FilterModule:
    def filters(self):
        return {
            "docker_legacy_keys": docker_legacy_keys,
            "docker_apt_version": docker_apt_version,
            "apt_package_versions": apt_package_versions,
            "apt_release_field": apt_release_field,
        }
