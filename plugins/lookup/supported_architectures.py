"""The CPU architectures this project supports, as Ansible's architecture
fact names them: those Docker's apt repository is mapped for
(plugins/module_utils/docker_values.py)."""

from ansible.plugins.lookup import LookupBase
from ansible_collections.flask_vps.stack.plugins.module_utils.docker_values import (
    SUPPORTED_ARCHITECTURES,
)

DOCUMENTATION = r"""
name: supported_architectures
author: flask-vps maintainers
short_description: The CPU architectures this project supports
description:
  - The architectures, as the fact C(ansible_facts['architecture']) names them, that the roles support
    (those the filter C(flask_vps.stack.docker_architecture) gives apt's name for).
  - Takes no terms. Use C(query()), which keeps the list a list.
"""

EXAMPLES = r"""
- name: Check the architecture is supported
  ansible.builtin.assert:
    that: ansible_facts['architecture'] in query('flask_vps.stack.supported_architectures')
"""

RETURN = r"""
_raw:
  description: Architecture names, such as x86_64 and aarch64.
  type: list
  elements: str
"""


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return list(SUPPORTED_ARCHITECTURES)
