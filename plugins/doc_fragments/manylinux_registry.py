"""The options of every module that speaks to a registry with the project's client, documented once.

Modules add them with C(extends_documentation_fragment: manylinux_shared.factory.manylinux_registry)
and take their argument spec from module_utils manylinux_registry (REGISTRY_ARGUMENT_SPEC).
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  registry:
    description: Registry host (and port).
    type: str
    required: true
  repository:
    description: Repository in the registry.
    type: str
    required: true
  username:
    description: User for the registry's challenge (empty, anonymous).
    type: str
    default: ""
  password:
    description: Its password or token (never logged).
    type: str
    default: ""
  insecure:
    description: The registry speaks plain HTTP (a local test registry).
    type: bool
    default: false
  timeout:
    description: Seconds a request may take.
    type: int
    default: 60
"""
