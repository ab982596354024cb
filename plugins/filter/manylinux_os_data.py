"""Filters: a role's OS data, the files of vars/ that apply to the host, in one fallback chain.

The chain of linux-system-roles (timesync's tasks/set_vars.yml), general to specific:
vars/<os_family>.yml, <distribution>.yml, <distribution>_<major version>.yml,
<distribution>_<version>.yml. Each that exists is loaded in this order, so a more specific file
overrides the variables it sets (a distribution's release its own package names, say).
"""

import os

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_filters import AnsibleFilterError

FACTS = ("os_family", "distribution", "distribution_major_version", "distribution_version")


def manylinux_os_data_chain(facts):
    """The names of the chain for these facts (ansible_facts), general to specific, without repeats."""
    missing = [name for name in FACTS if not (facts or {}).get(name)]
    if missing:
        raise AnsibleFilterError("manylinux_os_data_chain: the facts lack %s (gather_subset min has them)"
                                 % ", ".join(missing))
    names = []
    for name in ("%(os_family)s.yml", "%(distribution)s.yml", "%(distribution)s_%(distribution_major_version)s.yml",
                 "%(distribution)s_%(distribution_version)s.yml"):
        name = name % facts
        if name not in names:
            names.append(name)
    return names


def manylinux_os_data_files(vars_dir, facts):
    """The files of the chain that exist in `vars_dir` (a role's vars/ on the controller), in load order."""
    return [os.path.join(vars_dir, name) for name in manylinux_os_data_chain(facts)
            if os.path.isfile(os.path.join(vars_dir, name))]


class FilterModule(object):
    def filters(self):
        return {
            "manylinux_os_data_chain": manylinux_os_data_chain,
            "manylinux_os_data_files": manylinux_os_data_files,
        }
