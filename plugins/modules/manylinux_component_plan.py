#!/usr/bin/python
"""Plan a component build: check the entries, resolve the graph, key each component, find the cached ones."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_component_plan
short_description: Turn component entries into a keyed build graph and find what the artifact cache holds
description:
  - Runs on the controller. Checks every component entry (see docs/DESIGN.md, "Components"),
    resolves C(needs) (names, or absolute paths inside another component's prefixes), orders the
    graph, merges what each component's needs export into its environment, options and steps, and keys
    each component by everything its result depends on.
  - Looks every key up in O(cache_dir); a component whose artifact is there, complete, is cached
    and not built again.
  - Gives each component to build a priority (the longest chain of expected seconds from it to the
    end of the graph), so that the scheduler starts the longest work first, and chooses how many
    components build at once and the C(make -j) of each.
  - Changes nothing; every rule that an entry breaks is reported at once, naming the entry.
options:
  components:
    description: Component entries, in the order the roles declared them.
    type: list
    elements: dict
    required: true
  sources:
    description: The effective source table (key to entry with at least C(file) and C(sha256)).
    type: dict
    required: true
  build_base:
    description: Id of the build base image every component builds on.
    type: str
    required: true
  engine:
    description: Hash of the engine's own files (its tasks, modules, module utilities).
    type: str
    required: true
  platform:
    description: Docker platform of the build, e.g. C(linux/amd64).
    type: str
    required: true
  base_environment:
    description: The build's PATH-like variables, which merged PATH-like values end with.
    type: dict
    default: {}
  cache_dir:
    description: Controller directory of artifacts (C(<name>-<key prefix>/artifact.json) and its tar files).
    type: path
    required: true
  use_cache:
    description: False treats every component as not cached (artifacts are still stored).
    type: bool
    default: true
  parallel:
    description: Components built at once; 0 chooses from the cores and memory.
    type: int
    default: 0
  jobs:
    description: C(make -j) of each component; 0 chooses from the cores and O(parallel).
    type: int
    default: 0
  layer_base:
    description: Id of the runtime base image that the layers of the image start from.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Key the components and find the cached ones
  manylinux_shared.factory.manylinux_component_plan:
    components: "{{ build_components }}"
    sources: "{{ build_sources_effective }}"
    build_base: "{{ build_bases.build.id }}"
    engine: "{{ component_build_engine_key }}"
    platform: "{{ build_target.platform }}"
    cache_dir: "{{ build_artifact_cache }}"
    layer_base: "{{ build_bases.runtime.id }}"
    use_cache: "{{ not (no_cache | bool) }}"
    parallel: "{{ build_parallel }}"
  register: plan
"""

RETURN = r"""
components:
  description: Every component in build order, with C(key), C(cached), C(artifact), resolved C(needs),
    C(imports) (every component whose artifact its container gets), merged C(environment) and C(options),
    C(steps) with C(@OPTIONS@) replaced, C(priority) and C(weight).
  type: list
  returned: always
to_build:
  description: Names of the components to build, highest priority first.
  type: list
  returned: always
cached:
  description: Names of the components taken from the artifact cache.
  type: list
  returned: always
layers:
  description: One entry per component, with C(layer_key) chained from O(layer_base), in build order but
    what no component needs last.
  type: list
  returned: always
parallel:
  description: Components built at once.
  type: int
  returned: always
jobs:
  description: C(make -j) of each component.
  type: int
  returned: always
"""

import hashlib
import json
import math
import os
import re
import shlex

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_exports import (
    exported_options, exported_steps, for_version, imported_environment, merge_environment)

# Bumped when what a key means changes, so that old artifacts are never taken for new ones.
KEY_SCHEMA = 2
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FIELDS = {
    "name": str, "version": str, "sources": list, "needs": list, "prefixes": list, "chdir": str,
    "environment": dict, "options": list, "steps": list, "remove": list, "strip": list, "private": list,
    "files": list, "exports": dict, "imports_as": dict, "details": dict, "weight": (int, float),
}
DEFAULTS = {"sources": [], "needs": [], "chdir": "", "environment": {}, "options": [], "steps": [],
            "remove": [], "strip": [], "private": [], "files": [], "exports": {}, "imports_as": {},
            "details": {}, "weight": 60}
# Fields that do not change what a component builds: kept out of its key.
NOT_KEYED = ("weight",)


class PlanError(Exception):
    pass


def _sha256(data):
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()


def _canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def check_entry(entry, index):
    """Return the entry with defaults filled in, or the list of rules it breaks."""
    errors = []
    if not isinstance(entry, dict):
        return None, ["component #%d is not a mapping" % index]
    label = "component %s" % (entry.get("name") or "#%d" % index)
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        errors.append("%s: unknown keys %s (known: %s)" % (label, ", ".join(unknown), ", ".join(sorted(FIELDS))))
    for field in ("name", "version", "prefixes"):
        if not entry.get(field):
            errors.append("%s: %s is required" % (label, field))
    full = dict(DEFAULTS)
    full.update({k: v for k, v in entry.items() if k in FIELDS})
    for field, kind in FIELDS.items():
        if field in full and full[field] is not None and not isinstance(full[field], kind):
            errors.append("%s: %s must be a %s" % (label, field, getattr(kind, "__name__", "number")))
    if errors:
        return None, errors
    full["version"] = str(full["version"])
    if not NAME.match(full["name"]):
        errors.append("%s: the name may hold letters, digits and . _ - only (it names images and files)" % label)
    for field in ("prefixes", "remove", "strip", "private"):
        for path in full[field]:
            if not isinstance(path, str) or not path.startswith("/") or path.rstrip("/") == "":
                errors.append("%s: %s entry %r is not an absolute path below /" % (label, field, path))
    for number, step in enumerate(full["steps"]):
        if not isinstance(step, dict) or not step.get("name") or not step.get("cmd"):
            errors.append("%s: step #%d needs a name and a cmd" % (label, number + 1))
        elif set(step) - {"name", "cmd", "fail_on"}:
            errors.append("%s: step %s has unknown keys %s" % (label, step["name"], ", ".join(sorted(set(step) - {"name", "cmd", "fail_on"}))))
    for number, item in enumerate(full["files"]):
        if not isinstance(item, dict) or not str(item.get("dest", "")).startswith("/") \
                or ("src" in item) == ("content" in item):
            errors.append("%s: file #%d needs an absolute dest and one of src or content" % (label, number + 1))
    exports = full["exports"]
    if set(exports) - {"environment", "options", "steps", "since", "before"}:
        errors.append("%s: exports may hold environment, options, steps, since and before only" % label)
    for option in exports.get("options", []):
        if not isinstance(option, dict) or "option" not in option or set(option) - {"option", "since", "before"}:
            errors.append("%s: an exported option is {option, since?, before?}, not %r" % (label, option))
    for step in exports.get("steps", []):
        if not isinstance(step, dict) or not step.get("name") or not step.get("cmd") \
                or set(step) - {"name", "cmd", "since", "before"}:
            errors.append("%s: an exported step is {name, cmd, since?, before?}, not %r" % (label, step))
    for exported, own in full["imports_as"].items():
        if not (isinstance(own, str) and ENV_NAME.match(own) and ENV_NAME.match(str(exported))):
            errors.append("%s: imports_as maps variable names to variable names, not %r: %r" % (label, exported, own))
    if full["chdir"] and not full["sources"] and not full["chdir"].startswith("/"):
        errors.append("%s: chdir %r is relative, but there is no source tree to be relative to" % (label, full["chdir"]))
    return (None, errors) if errors else (full, [])


def _inside(path, prefix):
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def resolve_needs(entries):
    """Map each component to the names of its direct needs (names, or paths inside another's prefixes)."""
    by_name = {e["name"]: e for e in entries}
    resolved, errors = {}, []
    for entry in entries:
        names = []
        for need in entry["needs"]:
            if not isinstance(need, str) or not need:
                errors.append("component %s: needs entry %r is not a name or a path" % (entry["name"], need))
                continue
            if need.startswith("/"):
                owners = sorted(((max(len(p) for p in e["prefixes"] if _inside(need, p)), e["name"])
                                 for e in entries if e["name"] != entry["name"]
                                 and any(_inside(need, p) for p in e["prefixes"])), reverse=True)
                if not owners:
                    errors.append("component %s needs %s, which no component installs (no prefix holds it)"
                                  % (entry["name"], need))
                    continue
                need = owners[0][1]
            elif need not in by_name:
                errors.append("component %s needs %s, which is not a component of this build; components: %s"
                              % (entry["name"], need, ", ".join(sorted(by_name))))
                continue
            if need == entry["name"]:
                errors.append("component %s needs itself" % entry["name"])
            elif need not in names:
                names.append(need)
        resolved[entry["name"]] = names
    return resolved, errors


def order_graph(entries, needs):
    """Declaration order, with every component after what it needs; a cycle is an error naming it."""
    order, state = [], {}
    index = {e["name"]: i for i, e in enumerate(entries)}

    def visit(name, path):
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name):] + [name]
            raise PlanError("the components' needs form a cycle: %s" % " -> ".join(cycle))
        state[name] = "visiting"
        for need in sorted(needs[name], key=index.get):
            visit(need, path + [name])
        state[name] = "done"
        order.append(name)

    for entry in entries:
        visit(entry["name"], [])
    return order


def closure(name, needs, order):
    """Everything `name` needs, directly or not, in build order."""
    seen, todo = set(), list(needs[name])
    while todo:
        item = todo.pop()
        if item not in seen:
            seen.add(item)
            todo.extend(needs[item])
    return [n for n in order if n in seen]


def file_digest(item):
    if "content" in item:
        return _sha256(str(item["content"]))
    path = os.path.expanduser(str(item["src"]))
    if not os.path.isfile(path):
        raise PlanError("file %s (for %s) does not exist on the controller" % (path, item["dest"]))
    with open(path, "rb") as handle:
        return _sha256(handle.read())


def artifact_dir(cache_dir, name, key):
    return os.path.join(cache_dir, "%s-%s" % (name, key[:20]))


def read_artifact(directory, key=None):
    """The metadata of a complete artifact in `directory`, or None (missing, incomplete, other key)."""
    try:
        with open(os.path.join(directory, "artifact.json")) as handle:
            meta = json.load(handle)
    except (OSError, ValueError):
        return None
    if key is not None and meta.get("key") != key:
        return None
    for part in meta.get("files", {}).values():
        path = os.path.join(directory, part["file"])
        if not os.path.isfile(path) or os.path.getsize(path) != part["size"]:
            return None
    return meta


def measured_seconds(cache_dir, name):
    """Seconds the newest artifact of `name` (any key) took to build, as the scheduler's estimate."""
    best = None
    try:
        names = os.listdir(cache_dir)
    except OSError:
        return None
    for entry in names:
        if not entry.startswith(name + "-") or len(entry) != len(name) + 21:
            continue
        meta = read_artifact(os.path.join(cache_dir, entry))
        if meta and meta.get("name") == name and meta.get("seconds"):
            if best is None or meta.get("created", "") > best[0]:
                best = (meta.get("created", ""), float(meta["seconds"]))
    return best[1] if best else None


def choose_parallel(requested, cores, memory_gib, count):
    """Components built at once: as asked, else as many as cores, within 2 GiB of memory each.

    One more than the cores was slower on 2 cores (cold default build 3069 s against 2068 s up to
    the assembly): the components' one-process steps are filled by the other components' make -j
    anyway, and every extra component at once stretches the critical path (OpenSSL, then CPython)."""
    if requested > 0:
        return requested
    return max(1, min(cores, int(memory_gib // 2) or 1, max(count, 1)))


def choose_jobs(requested, cores, parallel):
    """make -j of each component: at most twice as many compile jobs as cores in all, at least 2 each
    (a component's configure and install run one process), at most the cores."""
    if requested > 0:
        return requested
    return max(1, min(cores, max(2, math.ceil(2.0 * cores / max(parallel, 1)))))


def _memory_gib():
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1024.0 * 1024.0)
    except OSError:
        pass
    return 4.0


def plan(components, sources, build_base, engine, platform, cache_dir, layer_base, base_environment=None,
         use_cache=True, parallel=0, jobs=0, cores=None, memory_gib=None):
    errors, entries = [], []
    for index, entry in enumerate(components or []):
        full, problems = check_entry(entry, index + 1)
        errors.extend(problems)
        if full:
            entries.append(full)
    names = [e["name"] for e in entries]
    for name in sorted(set(n for n in names if names.count(n) > 1)):
        errors.append("two components are named %s: names must be unique" % name)
    for entry in entries:
        for key in entry["sources"]:
            if key not in (sources or {}):
                errors.append("component %s: source %s is not in build_sources" % (entry["name"], key))
    if errors:
        raise PlanError("; ".join(errors))
    needs, problems = resolve_needs(entries)
    if problems:
        raise PlanError("; ".join(problems))
    order = order_graph(entries, needs)
    by_name = {e["name"]: e for e in entries}
    base_environment = base_environment or {}

    keys, records = {}, {}
    for name in order:
        entry = by_name[name]
        direct = [by_name[n] for n in needs[name]]
        # a need's exports as a whole hold for consumers of since <= X.Y < before
        handed = [d["exports"] if for_version([d["exports"]], entry["version"]) else {} for d in direct]
        environment = merge_environment(
            [imported_environment(e.get("environment", {}), entry["imports_as"]) for e in handed],
            entry["environment"], base_environment)
        options = list(entry["options"])
        before_own = []
        for exports in handed:
            for option in exported_options(exports.get("options", []), entry["version"]):
                if option not in options:
                    options.append(option)
            before_own.extend(s for s in exported_steps(exports.get("steps", []), entry["version"])
                              if s not in before_own)
        quoted = " ".join(shlex.quote(o) for o in options)
        steps = [dict(step, cmd=step["cmd"].replace("@OPTIONS@", quoted)) for step in before_own + entry["steps"]]
        files = [dict(item, sha256=file_digest(item)) for item in entry["files"]]
        keyed = {k: v for k, v in entry.items() if k not in NOT_KEYED}
        # a file by its bytes and where it goes, not where it lies on the controller (a clone in
        # another folder, another user's wheel cache): the key holds wherever the build runs
        keyed.update(needs=needs[name], steps=steps, files=[{k: v for k, v in f.items() if k not in ("content", "src")}
                                                             for f in files])
        key = _sha256(_canonical({
            "schema": KEY_SCHEMA, "entry": keyed, "environment": environment, "options": options,
            "sources": [sources[s]["sha256"] for s in entry["sources"]],
            "needs": {n: keys[n] for n in needs[name]}, "build_base": build_base, "engine": engine,
            "platform": platform}))
        keys[name] = key
        directory = artifact_dir(cache_dir, name, key)
        cached = bool(use_cache and read_artifact(directory, key))
        records[name] = dict(entry, key=key, needs=needs[name], imports=closure(name, needs, order),
                             environment=environment, options=options, steps=steps, files=files,
                             artifact=directory, cached=cached,
                             sources=[{k: v for k, v in dict(sources[s], key=s).items()
                                      if k in ("key", "name", "version", "file", "url", "sha256")}
                                     for s in entry["sources"]])

    # Priority: the expected seconds of the longest chain from a component to the end of the graph.
    dependents = {n: [m for m in order if n in needs[m]] for n in order}
    priority = {}
    for name in reversed(order):
        record = records[name]
        seconds = 0.0 if record["cached"] else float(measured_seconds(cache_dir, name) or record["weight"])
        record["expected_seconds"] = round(seconds, 1)
        priority[name] = seconds + max([priority[d] for d in dependents[name]] or [0.0])
        record["priority"] = round(priority[name], 1)

    to_build = sorted((n for n in order if not records[n]["cached"]), key=lambda n: (-priority[n], order.index(n)))
    cores = cores or os.cpu_count() or 2
    memory_gib = memory_gib if memory_gib is not None else _memory_gib()
    parallel = choose_parallel(parallel, cores, memory_gib, len(to_build))
    jobs = choose_jobs(jobs, cores, parallel)

    # Layers in build order, but what no component needs (pinned pips, tools, wrappers: small, and
    # changed more often) after the rest, so that a change there makes its own layer again only.
    layer_order = [n for n in order if dependents[n]] + [n for n in order if not dependents[n]]
    layers, previous = [], layer_base
    for name in layer_order:
        layer_key = _sha256(_canonical({"schema": KEY_SCHEMA, "parent": previous, "component": keys[name]}))
        layers.append({"name": name, "key": keys[name], "layer_key": layer_key, "artifact": records[name]["artifact"]})
        previous = layer_key
    return {
        "components": [records[n] for n in order],
        "order": order,
        "to_build": to_build,
        "cached": [n for n in order if records[n]["cached"]],
        "layers": layers,
        "layers_key": previous,
        "parallel": parallel,
        "jobs": jobs,
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            components=dict(type="list", elements="dict", required=True),
            sources=dict(type="dict", required=True),
            build_base=dict(type="str", required=True),
            engine=dict(type="str", required=True),
            platform=dict(type="str", required=True),
            base_environment=dict(type="dict", default={}),
            cache_dir=dict(type="path", required=True),
            use_cache=dict(type="bool", default=True),
            parallel=dict(type="int", default=0),
            jobs=dict(type="int", default=0),
            layer_base=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        result = plan(p["components"], p["sources"], p["build_base"], p["engine"], p["platform"], p["cache_dir"],
                      p["layer_base"], p["base_environment"], p["use_cache"], p["parallel"], p["jobs"])
    except PlanError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
