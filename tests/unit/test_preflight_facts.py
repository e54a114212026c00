"""Preflight's data plumbing, on its own."""

from pathlib import Path

from ansible_collections.flask_vps.stack.plugins.filter import preflight_facts as facts

ROOT = Path(__file__).resolve().parents[2]


def test_argument_spec_without_defaults():
    text = ("argument_specs:\n  main:\n    options:\n      a: {type: int, default: 1, description: x}\n"
            "      b: {type: list, elements: str}\n")
    assert facts.spec_without_defaults(text) == {"a": {"type": "int", "description": "x"},
                                                 "b": {"type": "list", "elements": "str"}}


def test_an_input_the_caller_passes_is_not_required_of_the_inventory():
    """deploy_lock_path is the app role's to pass, not the user's to set: the
    preflight refused every run for it. A required suboption stays required."""
    text = ("argument_specs:\n  main:\n    options:\n      path: {type: str, required: true}\n"
            "      jobs: {type: list, elements: dict, options: {name: {type: str, required: true}}}\n")
    assert facts.spec_without_defaults(text) == {
        "path": {"type": "str"},
        "jobs": {"type": "list", "elements": "dict", "options": {"name": {"type": "str", "required": True}}}}


def test_ssh_key_lines_split_entries_and_skip_comments():
    settings = {"keys": ["ssh-ed25519 AAA a\n# old\n\nssh-rsa BBB b", "ssh-ed25519 CCC c"], "one": "ssh-ed25519 DDD"}
    assert [line["key"] for line in facts.ssh_key_lines(settings, ["keys", "one", "unset"])] == [
        "ssh-ed25519 AAA a", "ssh-rsa BBB b", "ssh-ed25519 CCC c", "ssh-ed25519 DDD"]


SS = [
    'LISTEN 0 4096 0.0.0.0:80 0.0.0.0:* users:(("docker-proxy",pid=101,fd=4))',
    'LISTEN 0 4096 [::]:80 [::]:* users:(("docker-proxy",pid=101,fd=4),("docker-proxy",pid=102,fd=4))',
    'LISTEN 0 5 0.0.0.0:8080 0.0.0.0:* users:(("python3",pid=7,fd=3))',
    'LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=5,fd=3))',
]


def test_port_users_from_ss():
    assert facts.port_users(SS, [80, 443, 8080]) == {
        "80": ["docker-proxy pid 101", "docker-proxy pid 102"], "443": [], "8080": ["python3 pid 7"]}
    assert facts.port_users(SS, [8]) == {"8": []}
    # app_http_port and app_https_port on one port: that port once.
    assert facts.port_users(SS, [80, 80]) == {"80": ["docker-proxy pid 101", "docker-proxy pid 102"]}


def test_foreign_publishers_are_other_projects_on_busy_ports():
    containers = [
        {"Names": ["/flaskapp-nginx-1"], "Labels": {"com.docker.compose.project": "flaskapp"},
         "Ports": [{"PublicPort": 80}]},
        {"Names": ["/other-web-1"], "Labels": {"com.docker.compose.project": "other"}, "Ports": [{"PublicPort": 80}]},
        {"Names": ["/loose"], "Labels": None, "Ports": [{"PrivatePort": 5000}]},
    ]
    # The host's front, or the app's own front of an earlier version (which
    # the front takes the ports over from).
    containers[0]["Labels"]["com.docker.compose.project"] = "web-front"
    assert facts.foreign_publishers(containers, ["80"], ["web-front", "flaskapp"]) == ["other-web-1"]
    containers[0]["Labels"]["com.docker.compose.project"] = "flaskapp"
    assert facts.foreign_publishers(containers, ["80"], ["web-front", "flaskapp"]) == ["other-web-1"]
    assert facts.foreign_publishers(containers, ["443"], ["web-front", "flaskapp"]) == []
    assert facts.foreign_publishers(containers, ["80"], ["web-front"]) == ["flaskapp-nginx-1", "other-web-1"]
