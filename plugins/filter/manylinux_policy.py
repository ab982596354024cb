"""Filters: what a build is and what it is called, checked before any work.

The policy table (inventories/default/group_vars/all/policies.yml) is data; these filters are
its only readers, so that every lookup fails the same way: early, and naming the valid choices.
The build's names and paths (image name, build id, caches) follow Docker's reference grammar.
"""

import re

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_filters import (
    AnsibleFilterError,
    choices as _choices,
)
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_image_ref import (
    COMPONENT as _COMPONENT,
    HOST as _HOST,
)


def manylinux_target(policy_table, policy, arch, arch_table, defaults=None):
    """Return the policy table entry for (policy, arch), merged with its arch entry, over `defaults`
    (the keys a policy sets only where it differs: build_policy_defaults).

    Raises a clear error for an unknown policy, an unknown arch, or a pair the
    policy does not support, listing what is valid.
    """
    if not isinstance(policy_table, dict) or not policy_table:
        raise AnsibleFilterError("the policy table is empty or not a mapping")
    if policy in (None, ""):
        raise AnsibleFilterError(
            "no policy given (-e policy=...); valid policies: %s" % _choices(policy_table)
        )
    if policy not in policy_table:
        raise AnsibleFilterError(
            "unknown policy %r; valid policies: %s" % (policy, _choices(policy_table))
        )
    entry = policy_table[policy]
    supported = entry.get("arches") or {}
    if arch in (None, ""):
        raise AnsibleFilterError(
            "no arch given (-e arch=...); valid arches for %s: %s" % (policy, _choices(supported))
        )
    if arch not in arch_table:
        raise AnsibleFilterError(
            "unknown arch %r; valid arches: %s (for %s: %s)"
            % (arch, _choices(arch_table), policy, _choices(supported))
        )
    if arch not in supported:
        pairs = [p for p, e in sorted(policy_table.items()) if arch in (e.get("arches") or {})]
        raise AnsibleFilterError(
            "unsupported pair: %s has no %s; valid arches for %s: %s; policies with %s: %s"
            % (policy, arch, policy, _choices(supported), arch, ", ".join(pairs) or "none")
        )
    target = dict(defaults or {})
    target.update({k: v for k, v in entry.items() if k != "arches"})
    target.update(arch_table[arch])
    target.update(supported[arch] or {})
    target.setdefault("upstream", True)
    target["policy"] = policy
    target["arch"] = arch
    target["platform_tag"] = "%s_%s" % (policy, arch)
    return target


def manylinux_target_error(policy_table, policy, arch, arch_table):
    """Return why (policy, arch) is not buildable, or '' when it is (for a clean assert message)."""
    try:
        manylinux_target(policy_table, policy, arch, arch_table)
    except AnsibleFilterError as exc:
        return str(exc)
    return ""


# What a build's names and paths must be (Docker's reference grammar for what
# becomes part of an image name), checked before any work.
NAMING_RULES = {
    "build_image_registry": (r"(%s)?" % _HOST, "a registry host such as ghcr.io or 127.0.0.1:5000, or empty"),
    "build_image_owner": (r"(%s(/%s)*)?" % (_COMPONENT, _COMPONENT),
                          "lowercase path components of letters and digits joined by . _ -, or empty"),
    "build_image_suffix": (r"([._]|__|-+)?[a-z0-9]+((?:[._]|__|-+)[a-z0-9]+)*|",
                           "lowercase letters and digits joined by . _ - (it ends the repository name)"),
    "build_image_tag": (r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "up to 128 letters, digits, _ . - (not first . or -)"),
    "build_id": (r"([A-Za-z0-9][A-Za-z0-9_.-]{0,99})?",
                 "empty (the build chooses it) or up to 100 letters, digits, _ . - (it names containers and tags)"),
    "build_cache_repository": (r"(%s/)?%s(/%s)*" % (_HOST, _COMPONENT, _COMPONENT), "an image repository name"),
    "build_snapshot_repository": (r"(%s/)?%s(/%s)*" % (_HOST, _COMPONENT, _COMPONENT), "an image repository name"),
    "build_log_root": (r"/.*", "an absolute path on the controller"),
    "build_source_cache": (r"/.*", "an absolute path on the controller"),
    "build_artifact_cache": (r"/.*", "an absolute path on the controller"),
}


def manylinux_naming_errors(values):
    """The rule each of `values` ({variable: value}) breaks (NAMING_RULES), one message each."""
    errors = []
    for name in sorted(values):
        if name not in NAMING_RULES:
            raise AnsibleFilterError("manylinux_naming_errors: no rule for %s" % name)
        pattern, what = NAMING_RULES[name]
        value = "" if values[name] is None else str(values[name])
        if not re.fullmatch(pattern, value) or "\n" in value:
            errors.append("%s=%r is not %s" % (name, value, what))
    return errors


def manylinux_target_error_for(arch, policy_table, policy, arch_table):
    """manylinux_target_error with the arch first, for map() over a list of arches."""
    return manylinux_target_error(policy_table, policy, arch, arch_table)


class FilterModule(object):
    def filters(self):
        return {
            "manylinux_target": manylinux_target,
            "manylinux_target_error": manylinux_target_error,
            "manylinux_naming_errors": manylinux_naming_errors,
            "manylinux_target_error_for": manylinux_target_error_for,
        }
