"""The Docker value grammars preflight and the roles' filters share."""

import pytest
from ansible_collections.flask_vps.stack.plugins.filter import docker_values as filters
from ansible_collections.flask_vps.stack.plugins.lookup.supported_architectures import (
    LookupModule,
)
from ansible_collections.flask_vps.stack.plugins.module_utils import (
    docker_values as values,
)


@pytest.mark.parametrize(("size", "expected"), [
    ("512m", 512 * 1024**2),
    ("1g", 1024**3),
    ("1G", 1024**3),
    ("64k", 64 * 1024),
    ("64kb", 64 * 1024),
    ("512MB", 512 * 1024**2),
    ("512mB", 512 * 1024**2),
    ("100b", 100),
    ("100B", 100),
    ("1048576", 1024**2),
    (1048576, 1024**2),
    ("0", 0),
])
def test_memory_bytes_reads_docker_sizes(size, expected):
    assert values.memory_bytes(size) == expected


@pytest.mark.parametrize("size", [
    "", "m", "512 MB", " 512m", "512m ", "512m\n", "1.5g", "512t", "512bb", "512mib", "-1m", "10MB!", None, True,
    "\u0665m",  # a digit, but not one Docker reads
])
def test_memory_bytes_refuses_others(size):
    with pytest.raises(ValueError, match="not a Docker memory size"):
        values.memory_bytes(size)


def test_docker_minimum_memory_is_6m():
    assert values.memory_bytes("6m") == values.MIN_MEMORY_BYTES
    assert values.memory_bytes("6143k") < values.MIN_MEMORY_BYTES


@pytest.mark.parametrize(("duration", "expected"), [
    ("3s", 3),
    ("90s", 90),
    ("1m", 60),
    ("1m30s", 90),
    ("1h", 3600),
    ("1h2m3s", 3723),
    ("2h30s", 7230),
])
def test_duration_seconds_reads_whole_units(duration, expected):
    assert values.duration_seconds(duration) == expected


@pytest.mark.parametrize("duration", [
    "", "5", "500ms", "1.5s", "5S", "30s1m", "1m 30s", " 5s", "5s\n", "1d", "s", "0s", None,
    "\u0665s",  # a digit, but not one Docker reads
])
def test_duration_seconds_refuses_others(duration):
    with pytest.raises(ValueError, match="not a health-check duration"):
        values.duration_seconds(duration)


def test_duration_zero_only_where_allowed():
    assert values.duration_seconds("0s", zero_allowed=True) == 0
    with pytest.raises(ValueError):
        values.duration_seconds("0s")
    with pytest.raises(ValueError):
        values.duration_seconds("", zero_allowed=True)


def test_architectures_map_to_apt_names():
    assert values.apt_architecture("x86_64") == "amd64"
    assert values.apt_architecture("aarch64") == "arm64"
    assert values.SUPPORTED_ARCHITECTURES == ["x86_64", "aarch64"]
    assert [values.apt_architecture(a) for a in values.SUPPORTED_ARCHITECTURES] == ["amd64", "arm64"]


@pytest.mark.parametrize("architecture", ["i386", "armv7l", "amd64", "arm64", "", None])
def test_unsupported_architectures_are_refused(architecture):
    with pytest.raises(ValueError, match=r"not a supported architecture: .* \(supported: x86_64, aarch64\)"):
        values.apt_architecture(architecture)


@pytest.mark.parametrize("repository", [
    "registry.example.com/team/flaskapp",
    "registry.example.com:5000/team/flaskapp",
    "registry:5000/flaskapp",
    "localhost/flaskapp",
    "localhost:5000/flaskapp",
    "you/flaskapp",
    "flaskapp",
    "my.app",
    "you/flask__app/a-b--c",
    "Registry.Example.com/app",
    "10.0.0.5:5000/app",
    "r/" + "a" * 253,
])
def test_registry_repositories(repository):
    assert values.is_registry_repository(repository)


@pytest.mark.parametrize("repository", [
    "",
    "registry.example.com/Team/App",
    "registry.example.com/flaskapp:1.0",
    "registry.example.com/flaskapp@sha256:" + "a" * 64,
    "https://registry.example.com/flaskapp",
    "registry.example.com/",
    "/flaskapp",
    "you//flaskapp",
    "you/-app",
    "you/app_",
    "you/app\n",
    "registry:port/app",
    "[::1]:5000/app",
    "r/" + "a" * 254,
])
def test_not_registry_repositories(repository):
    assert not values.is_registry_repository(repository)


@pytest.mark.parametrize(("repository", "host"), [
    ("registry.example.com/team/flaskapp", "registry.example.com"),
    ("registry:5000/flaskapp", "registry:5000"),
    ("localhost/flaskapp", "localhost"),
    ("localhost:5000/flaskapp", "localhost:5000"),
    ("Registry/flaskapp", "Registry"),   # Docker: capitals make it a host
    ("you/flaskapp", ""),                # a Docker Hub user
    ("you/team/flaskapp", ""),
    ("localhost", ""),                   # without a /, Docker Hub's library
    ("my.app", ""),
    ("", ""),
    (None, ""),
])
def test_registry_host_follows_docker(repository, host):
    assert values.registry_host(repository) == host


def test_registry_host_refuses_what_is_no_repository():
    with pytest.raises(ValueError, match="not a registry repository"):
        values.registry_host("https://registry.example.com/flaskapp")


def test_filters_and_lookup_use_the_grammar():
    found = filters.FilterModule().filters()
    assert found["docker_architecture"]("aarch64") == "arm64"
    assert found["registry_host"]("registry:5000/app") == "registry:5000"
    assert LookupModule().run([]) == ["x86_64", "aarch64"]
