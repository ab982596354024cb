#!/usr/bin/python
"""List every Python distribution installed below some directories, for the image's SBOM."""

DOCUMENTATION = r"""
module: manylinux_python_inventory
short_description: The Python packages installed below some directories (their dist-info)
description:
  - Walks O(roots) without following symbolic links (C(/opt/python/*) link to
    C(/opt/_internal), so each installation is seen once) and reads every
    C(*.dist-info) directory, the record pip leaves of each installed wheel,
    and every C(*.egg-info) one.
  - Each package is given with the name and version of its C(METADATA) (or
    C(PKG-INFO)) and the wheel tags of its C(WHEEL) file, which name the very
    wheel that was installed; the SBOM looks its sha256 up by them.
  - Runs in the build container with the bootstrap interpreter (Python 3.6 and
    newer); it only reads.
options:
  roots:
    description: Directories to walk.
    type: list
    elements: path
    default: [/opt, /usr/local]
"""

EXAMPLES = r"""
- name: List the Python packages of the image
  manylinux_shared.factory.manylinux_python_inventory:
    roots: [/opt, /usr/local]
  register: python_packages
"""

RETURN = r"""
packages:
  description:
    - One entry per installed distribution, sorted by path, each with C(name), C(version),
      C(tags) (the wheel tags, empty for an egg-info) and C(path) (its dist-info directory).
  type: list
  elements: dict
  returned: success
"""

import os

from ansible.module_utils.basic import AnsibleModule


def _headers(path):
    """The RFC 822 headers of a METADATA, PKG-INFO or WHEEL file: {name: [values]}."""
    headers = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                break
            name, sep, value = line.partition(":")
            if sep and not line[0].isspace():
                headers.setdefault(name.strip().lower(), []).append(value.strip())
    return headers


def distribution(path):
    """The name, version and wheel tags of the dist-info or egg-info directory `path`; None if it has no metadata."""
    for metadata in ("METADATA", "PKG-INFO"):
        if os.path.isfile(os.path.join(path, metadata)):
            headers = _headers(os.path.join(path, metadata))
            break
    else:
        return None
    wheel = os.path.join(path, "WHEEL")
    tags = _headers(wheel).get("tag", []) if os.path.isfile(wheel) else []
    return {"name": (headers.get("name") or [""])[0], "version": (headers.get("version") or [""])[0],
            "tags": sorted(tags), "path": path}


def inventory(roots):
    packages = []
    for root in roots:
        for directory, subdirs, _ in os.walk(root):
            found = [d for d in subdirs if d.endswith((".dist-info", ".egg-info"))]
            for name in found:
                entry = distribution(os.path.join(directory, name))
                if entry and entry["name"]:
                    packages.append(entry)
            subdirs[:] = sorted(d for d in subdirs if d not in found and d != "__pycache__")
    return sorted(packages, key=lambda entry: entry["path"])


def main():
    module = AnsibleModule(argument_spec=dict(roots=dict(type="list", elements="path", default=["/opt", "/usr/local"])),
                           supports_check_mode=True)
    module.exit_json(changed=False, packages=inventory(module.params["roots"]))


if __name__ == "__main__":
    main()
