"""Lookup: the process id of the ansible-playbook run that evaluates it."""

from __future__ import annotations

DOCUMENTATION = r"""
name: manylinux_controller_pid
short_description: The pid of the running ansible-playbook
description:
  - Returns the process id of the ansible-playbook process (the controller) of this run.
    Lookups run in a worker that ansible-playbook forks for each task, so the worker's parent is the
    controller. The module manylinux_controller turns the pid into an identity that outlives pid reuse.
"""

EXAMPLES = r"""
- name: Who runs this build
  manylinux_controller:
    state: identified
    pid: "{{ lookup('manylinux_controller_pid') }}"
"""

RETURN = r"""
_raw:
  description: The controller's process id, as one list item.
  type: list
  elements: int
"""

import os

from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return [os.getppid()]
