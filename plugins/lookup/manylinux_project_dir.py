"""Lookup: the project's root directory (wherever the playbook that runs lives)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: manylinux_project_dir
short_description: The manylinux-shared project directory
description:
  - The directory holding plugins/, roles/ and playbooks/, found from this plugin's own
    location, so that build.yml and the molecule scenario name the same files.
"""

import os

from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))]
