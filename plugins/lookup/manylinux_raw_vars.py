"""Lookup: the raw (untemplated) values of the variables whose names start with a prefix."""

from __future__ import annotations

DOCUMENTATION = r"""
name: manylinux_raw_vars
short_description: Raw values of the variables named with a prefix, as stage-cache input
description:
  - Returns, for each prefix given, a mapping of variable name to its value as written
    (defaults, group vars, extra vars), before templating. A stage key built from them
    changes when a role's variables change, without evaluating templates that need the
    build container's facts.
options:
  _terms:
    description: Variable name prefixes, e.g. C(python_tools_).
    required: true
"""

import json

from ansible.plugins.lookup import LookupBase


def _plain(value):
    """Turn a variable value into JSON-stable data (strings for anything exotic)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}
        return [
            {name: _plain(variables[name]) for name in sorted(variables) if name.startswith(prefix)}
            for prefix in terms
        ]
