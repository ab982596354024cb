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
  - A source's C(file) must be a plain file name, so that nothing is read or written outside
    O(cache_dir).
  - When files are missing and O(cache_dir) cannot be written (a read-only, pre-seeded cache),
    the module fails naming every missing file, before any download.
  - Downloads left by dead runs (C(.partial-*) untouched for an hour) are removed.
  - With O(sigstore), each source whose C(name) and major.minor O(sigstore_signers) names is also
    checked against its sigstore bundle, C(<url>.sigstore) (python.org's layout), kept in the cache as
    C(<file>.sigstore), offline with sigstore-python (module_utils manylinux_sigstore). A missing
    bundle, another identity or issuer, or bytes the bundle does not sign fail the module, naming the
    file and the rule; a refused bundle is removed from the cache, the tarball (which matches its pin)
    stays and is checked again by every run. Off by default, so that a cache of tarballs without
    bundles (a pre-seeded offline one) works.
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
  download:
    description:
      - False only verifies, where a source is used (the engine, as a tarball enters a component's
        container), where a missing file is an error too and nothing is downloaded.
    type: bool
    default: true
  attempts:
    description:
      - Tries per download. A network error is retried after 2, 8, 30 seconds and then named with
        the number of attempts; a sha256 mismatch is never retried.
    type: int
    default: 3
  sigstore:
    description: Also check the sources O(sigstore_signers) names against their sigstore bundles.
    type: bool
    default: false
  sigstore_signers:
    description:
      - Source name to major.minor (C("3.14")) to C(identity), C(issuer) and C(instance) (C(production),
        the default, or C(staging)). The project's table is C(build_sigstore_signers)
        (inventories/default/group_vars/all/signers.yml), the one the pin updater reads.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Fetch and verify the sources into the cache
  manylinux_shared.factory.manylinux_source_fetch:
    sources: "{{ build_sources_effective | manylinux_shared.factory.manylinux_sources(['openssl-3.5.7']) }}"
    cache_dir: "{{ build_source_cache }}"
    attempts: 3

- name: Only verify a tarball where it is used (no download)
  manylinux_shared.factory.manylinux_source_fetch:
    sources: "{{ component_sources }}"
    cache_dir: "{{ build_source_cache }}"
    download: false

- name: Fetch the sources and check CPython's against python.org's sigstore bundles
  manylinux_shared.factory.manylinux_source_fetch:
    sources: "{{ build_sources_effective | manylinux_shared.factory.manylinux_sources(['cpython-3.14.6']) }}"
    cache_dir: "{{ build_source_cache }}"
    sigstore: true
    sigstore_signers: "{{ build_sigstore_signers }}"
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
sigstore:
  description: Key to what its sigstore check found (O(sigstore) only).
  type: dict
  returned: success
"""

import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_files import sha256_of
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_sigstore import (
    SigstoreError, signer_errors, signer_for, verify_file)

# A download writes .partial-<random> beside its target; one older than this
# belongs to a run that died (a live one rewrites it at least every `timeout`).
STALE_PARTIAL_SECONDS = 3600
# Download attempts wait this long before the 2nd, 3rd, ... try.
RETRY_DELAYS = (2, 8, 30)


def file_name_error(source):
    """The rule a source's `file` breaks, or None: a plain name inside the cache directory."""
    name = str(source.get("file", ""))
    if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith(".partial-"):
        return ("source %s: file %r must be a plain file name inside the source cache "
                "(no '/', not '.' or '..', not .partial-*)" % (source.get("key"), name))
    return None


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


def writable_error(cache_dir):
    """Why downloads cannot be stored in `cache_dir` (made if missing), or None."""
    try:
        os.makedirs(cache_dir, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".partial-", dir=cache_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def remove_stale_partials(cache_dir, now=None):
    """Delete downloads of dead runs (.partial-* untouched for an hour); return their names."""
    now = time.time() if now is None else now
    removed = []
    try:
        names = os.listdir(cache_dir)
    except OSError:
        return removed
    for name in sorted(names):
        path = os.path.join(cache_dir, name)
        try:
            if name.startswith(".partial-") and now - os.stat(path).st_mtime > STALE_PARTIAL_SECONDS:
                os.unlink(path)
                removed.append(name)
        except OSError:
            pass
    return removed


def download_once(url, dest, expected, timeout, opener):
    """One attempt; return (error or None, whether another attempt may help). `expected` None: no pin."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=os.path.dirname(dest) or ".")
        with os.fdopen(fd, "wb") as out:
            response = opener(url, timeout=timeout, follow_redirects="all")
            shutil.copyfileobj(response, out)
        actual = sha256_of(tmp)
        if expected is not None and actual != expected:
            return ("sha256 mismatch for %s (downloaded from %s): expected %s, actual %s; not stored" % (
                os.path.basename(dest), url, expected, actual)), False
        os.chmod(tmp, 0o644)
        os.rename(tmp, dest)
        tmp = None
        return None, False
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear message
        return "cannot download %s from %s: %s" % (os.path.basename(dest), url, exc), True
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def download(url, dest, expected, timeout, opener=open_url, attempts=3, sleep=time.sleep):
    """Download `url` to `dest` through a temporary file, retrying transient errors; None or an error."""
    error = None
    for attempt in range(attempts):
        if attempt:
            sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1])
        error, transient = download_once(url, dest, expected, timeout, opener)
        if error is None or not transient:
            return error
    return "%s (%d attempts)" % (error, attempts) if attempts > 1 else error


def fetch_all(sources, cache_dir, timeout, check_mode=False, opener=open_url, attempts=3, sleep=time.sleep,
              download_missing=True):
    """Verify or download every source; return (paths, downloaded, errors), checking all before failing."""
    errors = [e for e in (file_name_error(s) for s in sources) if e]
    if errors:
        return {}, [], errors
    paths, downloaded, missing = {}, [], []
    for source in sources:
        key, expected = source["key"], str(source["sha256"]).lower()
        path = os.path.join(cache_dir, source["file"])
        paths[key] = path
        if os.path.exists(path):
            error = check_cached(path, expected)
            if error:
                errors.append(error)
        else:
            missing.append(source)
    if missing and not download_missing:
        errors.append("the source cache %s lacks %s" % (
            cache_dir, ", ".join("%s (%s)" % (s["file"], s["key"]) for s in missing)))
        return paths, downloaded, errors
    if check_mode or not missing:
        downloaded = [s["key"] for s in missing] if check_mode else []
        return paths, downloaded, errors
    cannot_write = writable_error(cache_dir)
    if cannot_write:
        errors.append("the source cache %s cannot be written (%s), and it lacks %s" % (
            cache_dir, cannot_write, ", ".join("%s (%s)" % (s["file"], s["key"]) for s in missing)))
        return paths, downloaded, errors
    remove_stale_partials(cache_dir)
    for source in missing:
        error = download(source["url"], paths[source["key"]], str(source["sha256"]).lower(), timeout, opener=opener,
                         attempts=attempts, sleep=sleep)
        if error:
            errors.append(error)
        else:
            downloaded.append(source["key"])
    return paths, downloaded, errors


def check_signatures(sources, paths, signers, timeout, check_mode=False, opener=open_url, attempts=3,
                     sleep=time.sleep):
    """Check each cached source `signers` names against its bundle; return ({key: what passed}, errors)."""
    checked, errors = {}, []
    for source in sources:
        signer = signer_for(signers, source.get("name"), source.get("version"))
        path = paths.get(source["key"])
        if not signer or not path or not os.path.exists(path):  # a missing tarball is an error already
            continue
        bundle = path + ".sigstore"
        if not os.path.exists(bundle):
            if check_mode:
                continue
            # the bundle has no pin of its own: what it signs is checked below
            error = download(source["url"] + ".sigstore", bundle, None, timeout, opener=opener, attempts=attempts,
                             sleep=sleep)
            if error:
                errors.append("sigstore: the bundle of %s (%s) is missing: %s" % (source["file"], source["key"], error))
                continue
        try:
            checked[source["key"]] = verify_file(path, bundle, signer["identity"], signer["issuer"],
                                                 signer.get("instance", "production"))
        except SigstoreError as exc:
            try:
                os.unlink(bundle)
                what = "the bundle was removed from the cache"
            except OSError:
                what = "the bundle was left in place (the cache is not writable)"
            errors.append("%s (%s); %s" % (exc, source["key"], what))
    return checked, errors


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sources=dict(type="list", elements="dict", required=True),
            cache_dir=dict(type="path", required=True),
            timeout=dict(type="int", default=60),
            attempts=dict(type="int", default=3),
            download=dict(type="bool", default=True),
            sigstore=dict(type="bool", default=False),
            sigstore_signers=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    for source in module.params["sources"]:
        for field in ("key", "file", "url", "sha256"):
            if not source.get(field):
                module.fail_json(msg="source entry %r lacks %s" % (source, field))
    if module.params["sigstore"]:
        errors = signer_errors(module.params["sigstore_signers"])
        if not module.params["sigstore_signers"]:
            errors.append("sigstore: true needs sigstore_signers (build_sigstore_signers)")
        if errors:
            module.fail_json(msg="; ".join(errors), errors=errors)
    paths, downloaded, errors = fetch_all(
        module.params["sources"], module.params["cache_dir"], module.params["timeout"],
        check_mode=module.check_mode, attempts=max(1, module.params["attempts"]),
        download_missing=module.params["download"])
    checked = {}
    if module.params["sigstore"] and not errors:
        checked, errors = check_signatures(module.params["sources"], paths, module.params["sigstore_signers"],
                                           module.params["timeout"], check_mode=module.check_mode,
                                           attempts=max(1, module.params["attempts"]))
    if errors:
        module.fail_json(msg="; ".join(errors), errors=errors, downloaded=downloaded)
    module.exit_json(changed=bool(downloaded), paths=paths, downloaded=downloaded, sigstore=checked)


if __name__ == "__main__":
    main()
