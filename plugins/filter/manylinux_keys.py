"""Filters: what the keys of the bases, components and image are made of: file trees, a role's inputs."""

import hashlib
import os

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_filters import AnsibleFilterError


def manylinux_tree_hash(paths):
    """sha256 over the files below `paths` (names, modes and contents), ignoring bytecode caches."""
    digest = hashlib.sha256()
    for top in sorted(paths or []):
        if not os.path.exists(top):
            raise AnsibleFilterError("key input %s does not exist" % top)
        files = [top] if os.path.isfile(top) else [
            os.path.join(d, f) for d, dirs, names in os.walk(top)
            if "__pycache__" not in d.split(os.sep) for f in names]
        for path in sorted(files):
            if path.endswith((".pyc", ".pyo")):
                continue
            rel = os.path.relpath(path, os.path.dirname(top))
            digest.update(("%s\0%o\0" % (rel, os.stat(path).st_mode & 0o777)).encode())
            with open(path, "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def manylinux_role_inputs(role, entry_point, values):
    """What a role's entry point makes depends on: {role, entry_point, options, files}.

    `role` is an item of lookup manylinux_role_entry_points ({role, path, entry_points}).
    `options` are the values (from `values`, a name -> value mapping) of the variables the
    entry point declares in its argument spec; `files` hashes the files it runs: for `main`,
    the whole role; for a base entry point (runtime_base, build_base), the role's tasks and
    handlers and its OS data: every file of vars/ but main.yml (which of them a container
    loads depends on its distribution, which the controller learns only there)."""
    path = role["path"]
    names = (role.get("entry_points") or {}).get(entry_point)
    if names is None:
        raise AnsibleFilterError("role %s declares no entry point %s" % (role.get("role"), entry_point))
    if entry_point == "main":
        files = [path]
    else:
        files = [os.path.join(path, d) for d in ("tasks", "handlers")]
        vars_dir = os.path.join(path, "vars")
        if os.path.isdir(vars_dir):
            files += [os.path.join(vars_dir, n) for n in sorted(os.listdir(vars_dir)) if n != "main.yml"]
    files = [f for f in files if os.path.exists(f)]
    return {"role": role["role"], "entry_point": entry_point,
            "options": {name: values.get(name) for name in names},
            "files": manylinux_tree_hash(files) if files else ""}


class FilterModule(object):
    def filters(self):
        return {
            "manylinux_tree_hash": manylinux_tree_hash,
            "manylinux_role_inputs": manylinux_role_inputs,
        }
