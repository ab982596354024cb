#!/usr/bin/python
"""Finish a component in its build container: removals, strip, manifest, and its artifact as tar files."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_component_pack
short_description: Strip a built component, record its manifest and pack what it installed
description:
  - Runs in a component's build container. C(state=marked), before its sources are unpacked,
    makes the directories O(directories), refreshes the dynamic linker cache when asked (for the
    libraries of the artifacts just brought in) and writes the start marker O(marker).
  - C(state=packed), after its steps, deletes O(remove), strips the ELF
    files (C(--strip-unneeded)) and static archives (C(--strip-debug), which keeps what a static
    link needs) below O(strip), and writes the manifest O(manifest) to
    C(<manifest_dir>/<name>.json).
  - The component's artifact is everything below its O(prefixes) whose status changed after
    O(marker) was made (just before its sources were unpacked), that is what it installed, not what the
    artifacts it was built on brought. Files matching O(private) go to C(private.tar), which
    only the components that need this one get; the rest to C(image.tar), which also becomes a
    layer of the image.
  - Fails when a path of O(forbidden) (the build's extra CA bundle) would be in the artifact.
options:
  state:
    description: C(marked) before the sources, C(packed) after the steps.
    type: str
    choices: [marked, packed]
    default: packed
  name:
    description: The component.
    type: str
    required: true
  marker:
    description: A file made before the component's steps ran.
    type: path
    required: true
  directories:
    description: For C(marked), directories to make.
    type: list
    elements: path
    default: []
  ldconfig:
    description: For C(marked), refresh the dynamic linker cache.
    type: bool
    default: false
  prefixes:
    description: For C(packed), directories or files the component installs.
    type: list
    elements: path
    default: []
  dest:
    description: For C(packed), directory in the container for C(image.tar) and C(private.tar).
    type: path
  manifest:
    description: For C(packed), the manifest (one schema for every component, see docs/DESIGN.md).
    type: dict
  manifest_dir:
    description: For C(packed), directory of the manifests in the image.
    type: path
  remove:
    description: Paths deleted before packing.
    type: list
    elements: path
    default: []
  strip:
    description: Directories whose ELF files and archives are stripped.
    type: list
    elements: path
    default: []
  private:
    description: Glob patterns (absolute paths) of files for dependents only, not the image.
    type: list
    elements: str
    default: []
  forbidden:
    description: Paths that must never be part of an artifact.
    type: list
    elements: path
    default: []
"""

EXAMPLES = r"""
- name: Mark the time before the component's steps
  manylinux_shared.factory.manylinux_component_pack:
    state: marked
    name: openssl
    marker: /tmp/openssl.marker
    directories:
      - /opt/_internal/openssl-3.5

- name: Strip and pack what the component installed
  manylinux_shared.factory.manylinux_component_pack:
    state: packed
    name: openssl
    marker: /tmp/openssl.marker
    prefixes:
      - /opt/_internal/openssl-3.5
    dest: /tmp/pack
    manifest:
      name: openssl
      version: 3.5.7
    manifest_dir: /opt/_internal/manifests
    strip:
      - /opt/_internal/openssl-3.5/lib
    private:
      - /opt/_internal/openssl-3.5/include/*
"""

RETURN = r"""
files:
  description: Tar file name (C(image.tar), C(private.tar)) to its path in the container and its number of entries.
  type: dict
  returned: always
paths:
  description: Tar file name to its path in the container (what C(manylinux_artifact) stores).
  type: dict
  returned: always
stripped:
  description: Number of files stripped.
  type: int
  returned: always
"""

import fnmatch
import json
import os
import shutil
import stat
import subprocess
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule


class PackError(Exception):
    pass


def file_kind(path):
    """'elf', 'archive' or None, from the first bytes of a regular file."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return None
    if head[:4] == b"\x7fELF":
        return "elf"
    if head[:7] == b"!<arch>":
        return "archive"
    return None


def strip_tree(top, marker_ns, run=subprocess.run):
    """Strip what the component installed below `top` (files of the artifacts it was built on are
    left alone: stripping them again would make them part of this artifact too)."""
    count = 0
    for directory, _, names in os.walk(top):
        for name in names:
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path) or os.lstat(path).st_ctime_ns <= marker_ns:
                continue
            kind = file_kind(path)
            if kind is None:
                continue
            flag = "--strip-unneeded" if kind == "elf" else "--strip-debug"
            proc = run(["strip", flag, path], capture_output=True, text=True)
            if proc.returncode != 0:
                raise PackError("strip %s %s failed: %s" % (flag, path, proc.stderr.strip()))
            count += 1
    return count


def changed_paths(prefixes, marker_ns):
    """Paths below the prefixes (the prefixes included) whose status changed after the marker."""
    found = []
    for prefix in prefixes:
        if not os.path.lexists(prefix):
            continue
        if os.lstat(prefix).st_ctime_ns > marker_ns:
            found.append(prefix)
        if os.path.isdir(prefix) and not os.path.islink(prefix):
            for directory, dirs, names in os.walk(prefix):
                for name in sorted(dirs) + sorted(names):
                    path = os.path.join(directory, name)
                    if os.lstat(path).st_ctime_ns > marker_ns:
                        found.append(path)
    return sorted(set(found))


def with_parents(paths):
    """The paths and every directory above them (below /), parents first."""
    out = set(paths)
    for path in paths:
        parent = os.path.dirname(path)
        while parent not in ("/", ""):
            out.add(parent)
            parent = os.path.dirname(parent)
    return sorted(out)


def write_tar(path, members):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for member in members:
            archive.add(member, arcname=member.lstrip("/"), recursive=False)
    return len(members)


def pack(name, prefixes, marker, dest, manifest, manifest_dir, remove=(), strip=(), private=(), forbidden=()):
    if not os.path.exists(marker):
        raise PackError("%s: the start marker %s is missing" % (name, marker))
    marker_ns = os.stat(marker).st_mtime_ns
    for path in remove:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
    stripped = sum(strip_tree(top, marker_ns) for top in strip if os.path.isdir(top))
    os.makedirs(manifest_dir, exist_ok=True)
    manifest_path = os.path.join(manifest_dir, name + ".json")
    with open(manifest_path, "w") as handle:
        handle.write(json.dumps(manifest, sort_keys=True) + "\n")
    os.chmod(manifest_path, 0o644)
    changed = changed_paths(list(prefixes) + [manifest_path], marker_ns)
    for path in forbidden:
        if path in changed:
            raise PackError("%s: %s would be part of the artifact; it must never be" % (name, path))
    if not [p for p in changed if p != manifest_path]:
        raise PackError("%s installed nothing below %s" % (name, ", ".join(prefixes)))

    def is_private(path):
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in private)

    private_files = [p for p in changed if is_private(p) and not stat.S_ISDIR(os.lstat(p).st_mode)]
    image_files = [p for p in changed if p not in set(private_files)]
    os.makedirs(dest, exist_ok=True)
    files = {
        "image.tar": {"path": os.path.join(dest, "image.tar"),
                      "entries": write_tar(os.path.join(dest, "image.tar"), with_parents(image_files))},
    }
    if private_files:
        files["private.tar"] = {"path": os.path.join(dest, "private.tar"),
                                "entries": write_tar(os.path.join(dest, "private.tar"), with_parents(private_files))}
    return {"files": files, "paths": {name: info["path"] for name, info in files.items()}, "stripped": stripped}


def mark(marker, directories=(), ldconfig=False, run=subprocess.run):
    for directory in directories:
        os.makedirs(directory, exist_ok=True)
    if ldconfig:
        proc = run(["ldconfig"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise PackError("ldconfig failed: %s" % proc.stderr.strip())
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    with open(marker, "w") as handle:
        handle.write("started\n")
    # status changes after this one are the component's
    time.sleep(0.01)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["marked", "packed"], default="packed"),
            name=dict(type="str", required=True),
            marker=dict(type="path", required=True),
            directories=dict(type="list", elements="path", default=[]),
            ldconfig=dict(type="bool", default=False),
            prefixes=dict(type="list", elements="path", default=[]),
            dest=dict(type="path"),
            manifest=dict(type="dict"),
            manifest_dir=dict(type="path"),
            remove=dict(type="list", elements="path", default=[]),
            strip=dict(type="list", elements="path", default=[]),
            private=dict(type="list", elements="str", default=[]),
            forbidden=dict(type="list", elements="path", default=[]),
        ),
    )
    p = module.params
    if p["state"] == "marked":
        try:
            mark(p["marker"], p["directories"], p["ldconfig"])
        except (PackError, OSError) as exc:
            module.fail_json(msg=str(exc))
        module.exit_json(changed=True)
    missing = [name for name in ("prefixes", "dest", "manifest", "manifest_dir") if not p[name]]
    if missing:
        module.fail_json(msg="state=packed needs %s" % ", ".join(missing))
    try:
        result = pack(p["name"], p["prefixes"], p["marker"], p["dest"], p["manifest"], p["manifest_dir"],
                      p["remove"], p["strip"], p["private"], p["forbidden"])
    except (PackError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
