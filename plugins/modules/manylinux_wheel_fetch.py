#!/usr/bin/python
"""Fetch the wheels of hash-pinned requirement files into a controller cache."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_wheel_fetch
short_description: Make sure the wheels of hash-pinned requirement files are in a controller cache
description:
  - Runs on the controller, so that no build container needs the network or a CA bundle. For each
    requirement file (every package an exact pin with hashes), the wheels that a Python of the
    build target installs are put in O(cache_dir) and returned, for a component's C(files) and a
    C(pip install --no-index --find-links=<dir> --require-hashes) in its container.
  - What pip chose for a requirement file, Python and platform is recorded in the cache
    (C(resolved/<hash>.json)); while every wheel of the record is there with its sha256, it is
    used without running pip (a build that changes nothing stays a matter of seconds).
  - Else the cache is tried first, without the index (an offline build with a filled cache works);
    what it lacks is downloaded from O(index_url) with C(pip download --require-hashes), which
    checks every file against its pins and retries network errors (O(retries), O(timeout)).
  - pip runs isolated from the controller's pip configuration and environment; the only
    settings are the options here.
  - Downloads go to a directory of their own in O(cache_dir) and are renamed into it only when
    pip has verified them, so a concurrent build never reads half a wheel.
  - Every requirement file is tried before the module fails, naming each that failed with pip's
    last lines.
options:
  requirements:
    description: Requirement files on the controller (C(name==version --hash=sha256:...) lines).
    type: list
    elements: path
    required: true
  python:
    description: The Python the wheels are for, C(X.Y) or C(X.Yt) (free-threaded).
    type: str
    required: true
  target:
    description: The build target (C(build_target)); its C(libc), C(glibc) or C(musl), and C(arch) give the platform tags.
    type: dict
    required: true
  cache_dir:
    description: The wheel cache directory on the controller (made if missing).
    type: path
    required: true
  container_dir:
    description: The directory the wheels go to in a component's container (the C(dest) of RV(files)).
    type: str
    required: true
  index_url:
    description: The package index downloads come from.
    type: str
    default: https://pypi.org/simple
  ca_bundle:
    description: CA bundle for the index (a TLS-intercepting proxy); empty is pip's own.
    type: str
    default: ""
  timeout:
    description: Seconds a download may stall.
    type: int
    default: 60
  retries:
    description: Retries of a failed connection (pip's C(--retries)), then the file is named as failed.
    type: int
    default: 5
"""

EXAMPLES = r"""
- name: Fetch the wheels of the pinned pip of CPython 3.13
  manylinux_shared.factory.manylinux_wheel_fetch:
    requirements: [roles/interpreters/files/requirements.txt]
    python: "3.13"
    target: "{{ build_target }}"
    cache_dir: "{{ build_wheel_cache }}"
    container_dir: "{{ build_wheel_dir }}"
  delegate_to: localhost
  register: wheels
"""

RETURN = r"""
files:
  description: The wheels as entries of a component's C(files) (C(src) in the cache, C(dest) in O(container_dir)),
    in the order of the requirement files.
  type: list
  elements: dict
  returned: success
wheels:
  description: The wheels (C(name), C(sha256)), in the same order.
  type: list
  elements: dict
  returned: success
downloaded:
  description: Names of the wheels this run downloaded.
  type: list
  returned: always
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_files import sha256_of

# The oldest glibc minor the manylinux_2_x tags go down to, and the legacy
# aliases (PEP 600): manylinux1 is 2.5, manylinux2010 2.12, manylinux2014 2.17.
OLDEST_GLIBC_MINOR = 5
LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
LEGACY_ARCHES = {"manylinux2014": {"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x"},
                 "manylinux2010": {"x86_64", "i686"}, "manylinux1": {"x86_64", "i686"}}
SAVED = re.compile(r"^\s*(?:Saved|File was already downloaded) (?P<path>\S+\.whl)\s*$", re.MULTILINE)


def platform_tags(target):
    """The platform tags a wheel may have to run on the target, most specific first."""
    arch = target["arch"]
    if target["libc"] == "musl":
        major, minor = (int(part) for part in str(target["musl"]).split(".")[:2])
        return ["musllinux_%d_%d_%s" % (major, m, arch) for m in range(minor, -1, -1)]
    major, minor = (int(part) for part in str(target["glibc"]).split(".")[:2])
    tags = []
    for m in range(minor, OLDEST_GLIBC_MINOR - 1, -1):
        tags.append("manylinux_%d_%d_%s" % (major, m, arch))
        legacy = LEGACY_MANYLINUX.get((major, m))
        if legacy and arch in LEGACY_ARCHES[legacy]:
            tags.append("%s_%s" % (legacy, arch))
    return tags


def python_options(python):
    """pip's options for a CPython X.Y or X.Yt: its version, implementation and ABIs."""
    match = re.fullmatch(r"(\d+)\.(\d+)(t?)", python)
    if not match:
        raise ValueError("python=%r is not X.Y or X.Yt" % python)
    nodot = match.group(1) + match.group(2)
    abis = ["cp" + nodot + match.group(3)] + ([] if match.group(3) else ["abi3"]) + ["none"]
    options = ["--python-version", match.group(1) + "." + match.group(2), "--implementation", "cp"]
    for abi in abis:
        options += ["--abi", abi]
    return options


def resolution_record(cache_dir, requirements, options):
    """Where the choice of pip for this requirement file's text and these options is recorded."""
    with open(requirements, "rb") as handle:
        text = handle.read()
    key = hashlib.sha256(text + b"\0" + "\0".join(options).encode()).hexdigest()
    return os.path.join(cache_dir, "resolved", key + ".json")


def read_record(record, cache_dir):
    """[[name, sha256], ...] of a record whose every wheel is in the cache with its sha256, else None."""
    try:
        with open(record) as handle:
            chosen = json.load(handle)
        if all(sha256_of(os.path.join(cache_dir, name)) == digest for name, digest in chosen):
            return chosen
    except (OSError, ValueError, TypeError):
        pass
    return None


def write_record(record, chosen):
    handle, scratch = tempfile.mkstemp(prefix=".partial-", dir=os.path.dirname(record))
    with os.fdopen(handle, "w") as out:
        json.dump(chosen, out)
    os.replace(scratch, record)


def pip_download(requirements, dest, options, sources, run):
    """pip download into dest; (saved wheel paths, output)."""
    argv = [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-input", "download",
            "--no-deps", "--require-hashes", "--only-binary=:all:", "--dest", dest] + options + sources
    proc = run(argv + ["--requirement", requirements])
    output = proc.stdout + proc.stderr
    return (SAVED.findall(proc.stdout) if proc.returncode == 0 else None), output


def fetch(requirements, python, target, cache_dir, index_url="https://pypi.org/simple", ca_bundle="", timeout=60,
          retries=5, run=None):
    """(files, downloaded, errors) for the requirement files (see the module's description)."""
    run = run or (lambda argv: subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                              env=dict(os.environ, PIP_CONFIG_FILE=os.devnull)))
    options = python_options(python)
    for tag in platform_tags(target):
        options += ["--platform", tag]
    online = ["--index-url", index_url, "--timeout", str(timeout), "--retries", str(retries)]
    online += ["--cert", ca_bundle] if ca_bundle else []
    os.makedirs(os.path.join(cache_dir, "resolved"), exist_ok=True)
    files, downloaded, errors, seen = [], [], [], set()

    def add(name, digest):
        if name not in seen:
            seen.add(name)
            files.append({"name": name, "path": os.path.join(cache_dir, name), "sha256": digest})

    for path in requirements:
        record = resolution_record(cache_dir, path, options)
        recorded = read_record(record, cache_dir)
        if recorded is not None:
            for name, digest in recorded:
                add(name, digest)
            continue
        scratch = tempfile.mkdtemp(prefix=".partial-", dir=cache_dir)
        try:
            saved, _ = pip_download(path, scratch, options, ["--no-index", "--find-links", cache_dir], run)
            from_index = saved is None
            if from_index:
                saved, output = pip_download(path, scratch, options, online, run)
            if saved is None:
                tail = "\n".join(output.strip().splitlines()[-5:])
                errors.append("%s: no wheels for Python %s on %s from %s: %s" % (
                    path, python, platform_tags(target)[0], index_url, tail))
                continue
            chosen = []
            for wheel in saved:
                name = os.path.basename(wheel)
                final = os.path.join(cache_dir, name)
                digest = sha256_of(os.path.join(scratch, name))
                if os.path.isfile(final) and sha256_of(final) == digest:
                    os.unlink(os.path.join(scratch, name))
                else:
                    os.replace(os.path.join(scratch, name), final)
                    if from_index:
                        downloaded.append(name)
                chosen.append([name, digest])
                add(name, digest)
            write_record(record, chosen)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return files, downloaded, errors


def main():
    module = AnsibleModule(
        argument_spec=dict(
            requirements=dict(type="list", elements="path", required=True),
            python=dict(type="str", required=True),
            target=dict(type="dict", required=True),
            cache_dir=dict(type="path", required=True),
            container_dir=dict(type="str", required=True),
            index_url=dict(type="str", default="https://pypi.org/simple"),
            ca_bundle=dict(type="str", default=""),
            timeout=dict(type="int", default=60),
            retries=dict(type="int", default=5),
        ),
        supports_check_mode=False,
    )
    params = module.params
    missing = [path for path in params["requirements"] if not os.path.isfile(path)]
    if missing:
        module.fail_json(msg="requirement files not found: %s" % ", ".join(missing))
    try:
        python_options(params["python"])
        platform_tags(params["target"])
    except (KeyError, ValueError) as error:
        module.fail_json(msg="manylinux_wheel_fetch: %s (python is X.Y or X.Yt; target needs libc, arch and its "
                             "glibc or musl version)" % error)
    files, downloaded, errors = fetch(params["requirements"], params["python"], params["target"], params["cache_dir"],
                                      params["index_url"], params["ca_bundle"], params["timeout"], params["retries"])
    if errors:
        module.fail_json(msg="could not get every pinned wheel: " + "; ".join(errors), downloaded=downloaded)
    entries = [{"src": item["path"], "dest": params["container_dir"].rstrip("/") + "/" + item["name"]} for item in files]
    module.exit_json(changed=bool(downloaded), files=entries, downloaded=downloaded,
                     wheels=[{"name": item["name"], "sha256": item["sha256"]} for item in files])


if __name__ == "__main__":
    main()
