"""Filters: the CPython interpreters of /opt/python (tags, options by version, records) and the downloadable ones."""

import re

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_filters import (
    AnsibleFilterError,
    choices as _choices,
)


def _version_tuple(version, what):
    parts = str(version).split(".")
    try:
        return tuple(int(part) for part in parts[:2])
    except ValueError:
        raise AnsibleFilterError("%s: %r is not a version such as 3.13 or 3.13.14" % (what, version))


def manylinux_cpython_tag(version, free_threading=False):
    """The /opt/python name of a CPython: python tag and ABI tag, e.g. cp313-cp313, cp314-cp314t."""
    major, minor = _version_tuple(version, "manylinux_cpython_tag")
    if (major, minor) < (3, 8):
        raise AnsibleFilterError("manylinux_cpython_tag: CPython %s predates the ABI tags this image uses (3.8+)"
                                 % version)
    if free_threading and (major, minor) < (3, 13):
        raise AnsibleFilterError("manylinux_cpython_tag: CPython %s has no free-threading build (3.13+)" % version)
    tag = "cp%d%d" % (major, minor)
    return "%s-%s%s" % (tag, tag, "t" if free_threading else "")


def manylinux_options_for(entries, version):
    """The options of `entries` that apply to CPython `version`.

    Each entry is {option, since?, before?}: `since` and `before` bound the
    minor versions it applies to (since <= X.Y < before).
    """
    current = _version_tuple(version, "manylinux_options_for")
    options = []
    for entry in entries or []:
        if not isinstance(entry, dict) or "option" not in entry:
            raise AnsibleFilterError("manylinux_options_for: %r has no 'option'" % (entry,))
        unknown = set(entry) - {"option", "since", "before"}
        if unknown:
            raise AnsibleFilterError("manylinux_options_for: unknown keys %s in %r" % (_choices(unknown), entry))
        if "since" in entry and current < _version_tuple(entry["since"], "since"):
            continue
        if "before" in entry and current >= _version_tuple(entry["before"], "before"):
            continue
        options.append(entry["option"])
    return options


def manylinux_interpreter_table(entries, prefix_root, link_dir):
    """The interpreters of a version list ({version, free_threading, ...}) as records.

    One record per entry: identifier (the /opt/python name), implementation,
    version, minor, variant, free_threading, prefix, install_path (the link),
    python (the interpreter's name in bin/), plus the entry's own keys. Two
    entries that make the same identifier are an error.
    """
    records = []
    seen = {}
    for entry in entries or []:
        if not isinstance(entry, dict) or not entry.get("version"):
            raise AnsibleFilterError("interpreter entry %r has no version" % (entry,))
        version = str(entry["version"])
        free_threading = bool(entry.get("free_threading", False))
        tag = manylinux_cpython_tag(version, free_threading)
        if tag in seen:
            raise AnsibleFilterError("interpreters %s and %s%s are both %s: one entry per tag"
                                     % (seen[tag], version, " (free-threading)" if free_threading else "", tag))
        seen[tag] = version + (" (free-threading)" if free_threading else "")
        minor = ".".join(version.split(".")[:2])
        record = dict(entry)
        record.update({
            "identifier": tag,
            "implementation": "cpython",
            "version": version,
            "minor": minor,
            "variant": "freethreading" if free_threading else "default",
            "free_threading": free_threading,
            "prefix": "%s/cpython-%s%s" % (prefix_root.rstrip("/"), version, "-nogil" if free_threading else ""),
            "install_path": "%s/%s" % (link_dir.rstrip("/"), tag),
            "python": "python%s%s" % (minor, "t" if free_threading else ""),
        })
        records.append(record)
    return records


def manylinux_downloadable_interpreters(table, arch, requirements, requirements_dir):
    """What manylinux-interpreters can download on one arch: tag -> implementation, python_version,
    implementation_version, url, sha256, requirements (the path in the image of the pip pins for its
    Python version: `requirements` maps a version to a file name, with a `default`)."""
    found = {}
    for tag, entry in sorted((table or {}).items()):
        missing = {"implementation", "python_version", "arches"} - set(entry or {})
        if missing:
            raise AnsibleFilterError("downloadable interpreter %s lacks %s" % (tag, ", ".join(sorted(missing))))
        pin = entry["arches"].get(arch)
        if pin is None:
            continue
        missing = {"implementation_version", "url", "sha256"} - set(pin)
        if missing:
            raise AnsibleFilterError("downloadable interpreter %s on %s lacks %s" % (tag, arch, ", ".join(sorted(missing))))
        if not re.fullmatch(r"[0-9a-f]{64}", str(pin["sha256"])):
            raise AnsibleFilterError("downloadable interpreter %s on %s: sha256 %r is not 64 hex digits"
                                     % (tag, arch, pin["sha256"]))
        version = str(entry["python_version"])
        name = requirements.get(version, requirements.get("default"))
        found[tag] = {
            "implementation": entry["implementation"],
            "python_version": version,
            "implementation_version": str(pin["implementation_version"]),
            "url": pin["url"],
            "sha256": pin["sha256"],
            "requirements": "%s/%s" % (requirements_dir.rstrip("/"), name) if name else None,
        }
    return found


class FilterModule(object):
    def filters(self):
        return {
            "manylinux_cpython_tag": manylinux_cpython_tag,
            "manylinux_options_for": manylinux_options_for,
            "manylinux_interpreter_table": manylinux_interpreter_table,
            "manylinux_downloadable_interpreters": manylinux_downloadable_interpreters,
        }
