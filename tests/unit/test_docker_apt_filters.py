"""The docker role's filters for Docker CE's apt repository."""

from ansible_collections.flask_vps.stack.plugins.filter.docker_apt import (
    apt_package_versions,
    apt_release_field,
    docker_apt_version,
    docker_legacy_keys,
)

GPG_COLONS = """\
tru::1:1700000000:0:3:1:5
pub:-:4096:1:8D81803C0EBFCD88:1487788586:::-:::scESC::::::23::0:
fpr:::::::::9DC858229FC7DD38854AE2D88D81803C0EBFCD88:
uid:-::::1487792064::4AEE18F83AFDEB23E5E6B1E6A8A5E6B2E8B6E1C1::Docker Release (CE deb) <docker@docker.com>::::::::::0:
sub:-:4096:1:7EA0A9C3F273FCD8:1487788586::::::s::::::23:
fpr:::::::::D3306A018370199E527AE7997EA0A9C3F273FCD8:
pub:-:255:22:1111111111111111:1700000000:::-:::scESC::::::ed25519:::0:
fpr:::::::::AAAABBBBCCCCDDDDEEEEFFFF0000111122223333:
uid:-::::1700000000::0000::Stand-in (throwaway) <docker@docker.com>::::::::::0:
pub:-:255:22:2222222222222222:1700000000:::-:::scESC::::::ed25519:::0:
fpr:::::::::9999888877776666555544443333222211110000:
uid:-::::1700000000::0000::Debian Archive Automatic Signing Key <ftpmaster@debian.org>::::::::::0:
"""


def test_legacy_keys_by_fingerprint_and_address_not_others():
    assert docker_legacy_keys(GPG_COLONS) == [
        "9DC858229FC7DD38854AE2D88D81803C0EBFCD88",
        "AAAABBBBCCCCDDDDEEEEFFFF0000111122223333",
    ]


def test_legacy_keys_of_empty_keyring():
    assert docker_legacy_keys("") == []


def test_upstream_version_expands_to_dockers_apt_version():
    assert docker_apt_version("27.5.1", "12", "bookworm") == "5:27.5.1-1~debian.12~bookworm"
    assert docker_apt_version("26.1.4", 13, "trixie") == "5:26.1.4-1~debian.13~trixie"


def test_full_apt_version_is_kept():
    full = "5:27.5.1-1~debian.12~bookworm"
    assert docker_apt_version(full, "13", "trixie") == full


PACKAGES = """\
Package: docker-ce
Version: 5:26.1.4-1~debian.12~bookworm
Depends: containerd.io (>= 1.6.24),
 docker-ce-cli
Description: x

Package: docker-ce-cli
Version: 5:26.1.4-1~debian.12~bookworm

Package: docker-ce
Version: 5:26.1.5-1~debian.12~bookworm
"""


def test_package_versions_from_packages_index():
    assert apt_package_versions(PACKAGES, "docker-ce") == [
        "5:26.1.4-1~debian.12~bookworm", "5:26.1.5-1~debian.12~bookworm"]
    assert apt_package_versions(PACKAGES, "containerd.io") == []
    assert apt_package_versions("", "docker-ce") == []


def test_release_fields():
    release = "Origin: Docker\nArchitectures: amd64 arm64\nComponents: stable\nMD5Sum:\n abc 1 x\n"
    assert apt_release_field(release, "Architectures") == ["amd64", "arm64"]
    assert apt_release_field(release, "Components") == ["stable"]
    assert apt_release_field(release, "Suite") == []
