#!/usr/bin/python
"""Fetch source tarballs into a controller cache and verify their sha256."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_source_fetch
short_description: Make sure pinned source tarballs are in a local cache, verified
description:
  - For each source, uses the file in O(cache_dir) when its sha256 matches the pin,
    downloads it when it is missing, and fails when a file's sha256 differs.
  - A download is written to a temporary file and only renamed into the cache once
    verified, so a bad download never lands in the cache.
  - A cached file whose sha256 differs is removed (when the cache is writable) and the
    module fails naming the file, the expected and the actual hash.
  - Every source is checked before the module fails, so one run names every bad file.
options:
  sources:
    description: Entries of the source table (key, file, url, sha256).
    type: list
    elements: dict
    required: true
  cache_dir:
    description: The cache directory. A read-only, pre-seeded directory works when it holds every file.
    type: path
    required: true
  timeout:
    description: Seconds a download may stall.
    type: int
    default: 60
"""

RETURN = r"""
paths:
  description: Key to verified path in the cache.
  type: dict
  returned: success
downloaded:
  description: Keys that were downloaded by this run.
  type: list
  returned: always
"""

import hashlib
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url


def sha256_of(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def mismatch_message(path, expected, actual, removed):
    what = "removed from the cache" if removed else "left in place (the cache is not writable)"
    return "sha256 mismatch for %s: expected %s, actual %s; the file was %s" % (
        path, expected, actual, what)


def check_cached(path, expected):
    """Return None when `path` is good, else an error message (the bad file is removed if possible)."""
    actual = sha256_of(path)
    if actual == expected:
        return None
    removed = False
    try:
        os.unlink(path)
        removed = True
    except OSError:
        pass
    return mismatch_message(path, expected, actual, removed)


def download(url, dest, expected, timeout, opener=open_url):
    """Download `url` to `dest` through a temporary file; return None or an error message."""
    directory = os.path.dirname(dest) or "."
    fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            response = opener(url, timeout=timeout, follow_redirects="all")
            shutil.copyfileobj(response, out)
        actual = sha256_of(tmp)
        if actual != expected:
            return "sha256 mismatch for %s (downloaded from %s): expected %s, actual %s; not stored" % (
                os.path.basename(dest), url, expected, actual)
        os.chmod(tmp, 0o644)
        os.rename(tmp, dest)
        tmp = None
        return None
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear message
        return "cannot download %s from %s: %s" % (os.path.basename(dest), url, exc)
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def fetch_all(sources, cache_dir, timeout, check_mode=False, opener=open_url):
    paths, downloaded, errors = {}, [], []
    for source in sources:
        key, expected = source["key"], str(source["sha256"]).lower()
        path = os.path.join(cache_dir, source["file"])
        paths[key] = path
        if os.path.exists(path):
            error = check_cached(path, expected)
            if error:
                errors.append(error)
            continue
        if check_mode:
            downloaded.append(key)
            continue
        if not os.path.isdir(cache_dir):
            os.makedirs(cache_dir)
        error = download(source["url"], path, expected, timeout, opener=opener)
        if error:
            errors.append(error)
        else:
            downloaded.append(key)
    return paths, downloaded, errors


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sources=dict(type="list", elements="dict", required=True),
            cache_dir=dict(type="path", required=True),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    for source in module.params["sources"]:
        for field in ("key", "file", "url", "sha256"):
            if not source.get(field):
                module.fail_json(msg="source entry %r lacks %s" % (source, field))
    paths, downloaded, errors = fetch_all(
        module.params["sources"], module.params["cache_dir"], module.params["timeout"],
        check_mode=module.check_mode)
    if errors:
        module.fail_json(msg="; ".join(errors), errors=errors, downloaded=downloaded)
    module.exit_json(changed=bool(downloaded), paths=paths, downloaded=downloaded)


if __name__ == "__main__":
    main()
