"""Lookup: the entry points a role declares in its meta/argument_specs.yml, with their options."""

from __future__ import annotations

DOCUMENTATION = r"""
name: manylinux_role_entry_points
short_description: The entry points of roles, as their argument specs declare them
description:
  - For each role named, returns C({role, path, entry_points}) where C(entry_points) maps each
    entry point declared in the role's C(meta/argument_specs.yml) to the names of its options.
  - The build calls a content role's C(components), C(runtime_base), C(build_base) and C(main)
    entry points only where the role declares them (docs/DESIGN.md, "Roles").
  - Roles are looked for in the project's C(roles/) first, then in the configured roles path.
options:
  _terms:
    description: Role names.
    required: true
"""

import os

import yaml
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def role_dir(role, roles_paths):
    for base in [os.path.join(PROJECT, "roles")] + list(roles_paths):
        path = os.path.join(os.path.expanduser(base), role)
        if os.path.isdir(path):
            return path
    raise AnsibleLookupError("role %s is in none of: roles/, %s" % (role, ", ".join(roles_paths) or "no roles path"))


def entry_points(path):
    spec_file = os.path.join(path, "meta", "argument_specs.yml")
    try:
        with open(spec_file) as handle:
            specs = (yaml.safe_load(handle) or {}).get("argument_specs") or {}
    except OSError:
        return {}
    return {name: sorted((spec or {}).get("options") or {}) for name, spec in specs.items()}


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        from ansible import constants as C

        paths = [p for p in (C.DEFAULT_ROLES_PATH or []) if p]
        out = []
        for role in terms:
            path = role_dir(role, paths)
            out.append({"role": role, "path": path, "entry_points": entry_points(path)})
        return out
