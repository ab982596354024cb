"""Filters: the source table (build_sources), its only readers.

The table (inventories/default/group_vars/all/sources.yml) is data; these filters are its only
readers, so that an undeclared or incomplete source fails early, naming the declared ones.
"""

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_filters import (
    AnsibleFilterError,
    choices as _choices,
)


def manylinux_source(sources, key):
    """Return the source table entry `key`, checked for the fields a fetch needs."""
    if not isinstance(sources, dict):
        raise AnsibleFilterError("the source table is not a mapping")
    if key not in sources:
        raise AnsibleFilterError(
            "no source %r in build_sources; declared: %s" % (key, _choices(sources))
        )
    entry = dict(sources[key])
    missing = [f for f in ("name", "version", "file", "url", "sha256") if not entry.get(f)]
    if missing:
        raise AnsibleFilterError("source %r lacks %s" % (key, ", ".join(missing)))
    sha = str(entry["sha256"]).lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise AnsibleFilterError("source %r: sha256 %r is not 64 hex digits" % (key, entry["sha256"]))
    entry["sha256"] = sha
    entry["version"] = str(entry["version"])
    entry["key"] = key
    return entry


def manylinux_sources(sources, keys):
    """Return the entries for a list of keys, de-duplicated, in order."""
    seen = []
    for key in keys:
        if key not in seen:
            seen.append(key)
    return [manylinux_source(sources, key) for key in seen]


class FilterModule(object):
    def filters(self):
        return {
            "manylinux_source": manylinux_source,
            "manylinux_sources": manylinux_sources,
        }
