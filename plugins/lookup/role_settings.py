"""The settings of the role this lookup runs in, as that role sees them: the
inputs its argument specs document, each with the value Ansible gives it
there (the role's defaults under the inventory, play and extra vars, with
templates resolved). Preflight reads every role's settings this way, through
each role's `validate` entry point, instead of restating the roles'
defaults."""

import os

from ansible.module_utils.common.yaml import yaml_load
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
name: role_settings
author: flask-vps maintainers
short_description: The current role's inputs with the values the role sees
description:
  - Runs in a role's task (C(role_path) names the role). Returns one mapping of each input that the
    role's C(meta/argument_specs.yml) documents for its C(main) entry point to its value there, that is
    the role's default unless the inventory, the play or extra vars set it, templates resolved.
  - An input with no value (a required one its caller passes) is left out. A template that fails
    fails the lookup, naming what is missing.
  - Takes no terms.
"""

EXAMPLES = r"""
# roles/docker/tasks/validate.yml
- name: Hand the docker role's settings to preflight
  ansible.builtin.set_fact:
    docker_preflight_settings: "{{ lookup('flask_vps.stack.role_settings') }}"
"""

RETURN = r"""
_raw:
  description: Input name to value.
  type: dict
"""


def documented_inputs(role_path):
    """The input names of a role's main entry point, in the order of its specs."""
    with open(os.path.join(role_path, "meta", "argument_specs.yml"), encoding="utf-8") as specs:
        return list(yaml_load(specs)["argument_specs"]["main"]["options"])


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        settings = {}
        for name in documented_inputs(variables["role_path"]):
            if name not in variables:
                continue
            settings[name] = self._templar.template(variables[name])
        return [settings]
