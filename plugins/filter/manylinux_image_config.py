"""Filters: the configuration of what a build commits: its ENV, its labels, the commit's changes."""

import json

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_filters import AnsibleFilterError


def _quote(value):
    # Dockerfile ENV/LABEL values in double quotes take JSON-style escapes.
    return json.dumps(str(value))


def manylinux_commit_changes(env, labels, entrypoint, cmd):
    """Build the `docker commit --change` instructions for the image config."""
    changes = []
    for key in sorted(env):
        if env[key] is None:
            continue
        changes.append("ENV %s=%s" % (key, _quote(env[key])))
    for key in sorted(labels):
        changes.append("LABEL %s=%s" % (_quote(key), _quote(labels[key])))
    changes.append("ENTRYPOINT %s" % json.dumps(list(entrypoint)))
    changes.append("CMD %s" % json.dumps(list(cmd)))
    return changes


def manylinux_path_join(prepend, base):
    """Join PATH-like entries: `prepend` first, then `base` (a list or a colon string), no repeats, no empties."""
    if isinstance(base, str):
        base = base.split(":")
    out = []
    for item in list(prepend or []) + list(base or []):
        if item and item not in out:
            out.append(item)
    return ":".join(out)


def manylinux_component_labels(manifests, prefix):
    """Image labels of component manifests ({name, version, details}): `<prefix>.<name>=<version>`, one per
    component (names are unique), and `<prefix>.<name>.<tool>=<version>` for each tool a component lists in
    `details.tools` (python-tools: auditwheel, cmake, ...), so that no label merges or hides a version."""
    labels = {}
    for manifest in manifests or []:
        if not isinstance(manifest, dict) or not manifest.get("name") or not manifest.get("version"):
            raise AnsibleFilterError("a component manifest lacks name or version: %r" % (manifest,))
        key = "%s.%s" % (prefix, manifest["name"])
        if labels.get(key, str(manifest["version"])) != str(manifest["version"]):
            raise AnsibleFilterError("two components named %s: %s and %s" % (manifest["name"], labels[key],
                                                                             manifest["version"]))
        labels[key] = str(manifest["version"])
        tools = (manifest.get("details") or {}).get("tools") or {}
        for tool, version in sorted(tools.items() if isinstance(tools, dict) else []):
            labels["%s.%s" % (key, tool)] = str(version)
    return labels


class FilterModule(object):
    def filters(self):
        return {
            "manylinux_commit_changes": manylinux_commit_changes,
            "manylinux_path_join": manylinux_path_join,
            "manylinux_component_labels": manylinux_component_labels,
        }
