"""How a component takes what its needs export (docs/DESIGN.md, "Components", merging).

Environments merge (PATH-like variables joined with `:` and ending with the build's own value, the others
with a space, a value exported twice kept once), a consumer takes exported variables under its own names
(`imports_as`), and exported options and steps apply by the consumer's version (since <= X.Y < before).
Used by the plan (module manylinux_component_plan), which keys the result.
"""

from __future__ import annotations

import re


def _version_tuple(version):
    parts = []
    for part in str(version).split(".")[:2]:
        match = re.match(r"\d+", part)
        parts.append(int(match.group()) if match else 0)
    return tuple(parts)


def merge_environment(exports, own, base):
    """The environment of a component: its needs' exported values, then its own.

    Variables whose name ends in PATH are joined with ':' and end with the build's own value
    (`base`); the others are joined with ' '. A value exported twice (tcl and tk share a prefix)
    is kept once.
    """
    merged, names = {}, []
    for values in list(exports) + [own]:
        for key in values or {}:
            if key not in names:
                names.append(key)
    for key in names:
        parts = []
        for values in list(exports) + [own]:
            value = (values or {}).get(key)
            if value not in (None, ""):
                for part in ([str(value)] if not key.endswith("PATH") else str(value).split(":")):
                    if part and part not in parts:
                        parts.append(part)
        if key.endswith("PATH"):
            for part in str(base.get(key, "")).split(":"):
                if part and part not in parts:
                    parts.append(part)
            merged[key] = ":".join(parts)
        else:
            merged[key] = " ".join(parts)
    return merged


def imported_environment(exported, imports_as):
    """A need's exported environment under the names its consumer takes it (`imports_as`: exported
    name to own name; two names taken as one are joined with a space)."""
    taken = {}
    for key, value in (exported or {}).items():
        name = imports_as.get(key, key)
        taken[name] = "%s %s" % (taken[name], value) if taken.get(name) not in (None, "") else value
    return taken


def for_version(entries, version):
    """The exported entries (options, steps) that apply to a consumer of `version` (since <= X.Y < before)."""
    current = _version_tuple(version)
    chosen = []
    for entry in entries or []:
        if "since" in entry and current < _version_tuple(entry["since"]):
            continue
        if "before" in entry and current >= _version_tuple(entry["before"]):
            continue
        chosen.append(entry)
    return chosen


def exported_options(options, version):
    """The exported options that apply to a consumer of `version`."""
    return [str(entry["option"]) for entry in for_version(options, version)]


def exported_steps(steps, version):
    """The exported steps that apply to a consumer of `version`: they run before its own."""
    return [{"name": str(step["name"]), "cmd": str(step["cmd"])} for step in for_version(steps, version)]
