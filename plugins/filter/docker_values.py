"""Docker's values for the roles, with the grammar preflight checks them by
(plugins/module_utils/docker_values.py):

- docker_architecture: apt's name for Ansible's architecture fact
  (ansible_facts['architecture'] | flask_vps.stack.docker_architecture:
  "aarch64" -> "arm64"), for Docker's apt repository (docker role, preflight);
- registry_host: the registry host[:port] of app_registry, "" for Docker Hub
  (app role's login).

The architectures this project supports: the lookup
flask_vps.stack.supported_architectures.
"""

from ansible_collections.flask_vps.stack.plugins.module_utils.docker_values import (
    apt_architecture,
    registry_host,
)


class FilterModule:
    def filters(self):
        return {
            "docker_architecture": apt_architecture,
            "registry_host": registry_host,
        }
