#!/usr/bin/python
"""The pin updater: newest patch releases of the source table and of the hashed requirement files."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_source_update
short_description: Move the pins of the source table and the requirement files to the newest patch releases
description:
  - For each entry of the source table (C(build_sources)) whose C(name) has an upstream in O(components),
    asks that upstream for its releases and picks the newest final release of the same major.minor
    (3.13.14 may become 3.13.15, never 3.14.0, never a pre-release). Of several entries of one series
    only the newest is moved; older ones (such as cpython-3.9.2 beside cpython-3.9.25) stay as they are.
  - Upstream kinds, each with its base URL in O(upstreams) so that tests serve a fake one.
    C(python.org) reads the release list of C(/api/v2/downloads/release/) and downloads
    C(/ftp/python/X.Y.Z/Python-X.Y.Z.tar.xz).
    C(github) reads C(/repos/OWNER/NAME/releases) (drafts and pre-releases left out) and downloads the
    release's asset. C(sqlite) reads the machine-readable C(PRODUCT,version,path,size,sha3) lines of
    C(/download.html).
  - Each new tarball is downloaded into a scratch directory and checked by the methods its component
    lists in C(signature), in order, until one passes. C(pgp) runs gpg against the keyring and the
    fingerprints of O(pgp_keys) in a temporary GNUPGHOME, with upstream's detached C(.asc) signature;
    a key that has expired since counts for the signatures it made before its expiry.
    C(sha3-page) compares the file with the sha3-256 of sqlite's download page (sqlite publishes no
    signature, so this checks integrity against upstream's page, not a signature). C(sigstore)
    downloads upstream's C(<file>.sigstore) bundle and checks it with sigstore-python, offline against
    its trust root (module_utils manylinux_sigstore), for the signer O(sigstore_signers) names for the
    release's major.minor; a missing bundle, another identity or issuer, a changed byte, or a series
    the table names no signer for fails the check. A new release no method passes is refused, unless
    its component is in O(unverified_ok), and then it is reported as not verified.
  - Each pin C(NAME==VERSION) of O(requirement_files) moves to the newest release on the package
    index (PyPI's simple JSON API, the lookup of module_utils manylinux_pins that
    scripts/pin-requirements uses) in the series O(pypi_keep) says, with the sha256 of the same kinds
    of files (wheels, sdist) the pin had. Other lines (comments, C(# via)) stay as they are.
  - An entry that an override file (O(override_files), C(build_source_overrides)) replaces by another
    tarball, such as a Debian repack, is held. It follows Debian, not upstream, and is reported with
    the upstream release it could move to. An entry whose version or key an override file names
    otherwise (tests/offline.yml lists interpreters it has tarballs of) stays in the table, and the
    new entry is added after it. Every other moved entry is replaced.
  - The values at O(references) that name a moved entry's version (role defaults) are set too,
    so that the source keys the roles use stay declared.
  - The source table and the references are edited as YAML data (ruamel.yaml's round trip, module_utils
    manylinux_yaml_edit), so comments, order and quoting stay, and a file is written only when reading it
    back gives its old data with just those values changed.
  - Check mode only reports. Otherwise every file is rewritten only when every download and check
    passed, each through a temporary file renamed over it, so a failure leaves every file as it was.
  - Bad options fail before any request, naming the rule and the choices. An upstream that cannot
    be read fails the module after every upstream was asked, naming each, with nothing rewritten.
options:
  sources_file:
    description: The source table (inventories/default/group_vars/all/sources.yml).
    type: path
    required: true
  requirement_files:
    description: Hashed requirement files whose pins move; an item with C(*) is a glob pattern.
    type: list
    elements: path
    default: []
  components:
    description:
      - Source name to its upstream. C(kind) is C(python.org), C(github) or C(sqlite).
        C(signature) is the list of checks, each C(pgp), C(sigstore) or C(sha3-page) (C(sigstore) needs
        O(sigstore_signers) to name the source).
        C(github) also needs C(repo) (OWNER/NAME), C(tag) and C(asset), templates with C({version}).
        C(sqlite) needs C(asset), a regular expression matching the file's path on the page.
    type: dict
    required: true
  upstreams:
    description: Base URL of each upstream kind (C(python.org), C(github), C(sqlite)) and of C(pypi), the simple index.
    type: dict
    required: true
  pgp_keys:
    description:
      - Source name to C(keyring) (a file of upstream's public keys) and C(fingerprints) (the keys whose
        signatures count). A missing keyring fails the check, naming the file.
    type: dict
    default: {}
  sigstore_signers:
    description:
      - Source name to major.minor (a string, C("3.14")) to the signer of those releases, C(identity) (the
        certificate's e-mail or URI), C(issuer) (its OIDC issuer) and C(instance) (C(production), the
        default, or C(staging)). The project's table is C(build_sigstore_signers)
        (inventories/default/group_vars/all/signers.yml); the source fetch reads the same one.
    type: dict
    default: {}
  override_files:
    description: Files whose C(build_source_overrides) hold entries, and whose text keeps old entries.
    type: list
    elements: path
    default: []
  references:
    description:
      - Values naming the version of a source, set when it moves. Each has C(name) (the source name),
        C(file) (a YAML file) and C(path), the keys to the value joined by C(.), C(*) standing for every
        item of a list or mapping (C(interpreters_versions.*.version)).
    type: list
    elements: dict
    default: []
  pypi_keep:
    description: C(minor) keeps each Python package's major.minor, C(major) its major version only.
    type: str
    choices: [minor, major]
    default: minor
  unverified_ok:
    description: Source names whose new releases may be taken when no check passes; reported as not verified.
    type: list
    elements: str
    default: []
  cache_dir:
    description: When set, verified downloads are moved into this source cache (the build need not fetch them).
    type: path
  timeout:
    description: Seconds a request may stall.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Report newer patch releases without changing anything
  manylinux_shared.factory.manylinux_source_update:
    sources_file: inventories/default/group_vars/all/sources.yml
    requirement_files: [requirements.txt]
    components:
      openssl:
        kind: github
        repo: openssl/openssl
        tag: openssl-{version}
        asset: openssl-{version}.tar.gz
        signature: [pgp]
    upstreams:
      github: https://api.github.com
      pypi: https://pypi.org/simple
    pgp_keys:
      openssl:
        keyring: keys/openssl.asc
        fingerprints: [BA5473A2B0587B07FB27CF2D216094DFD0CB81EF]
  check_mode: true
"""

RETURN = r"""
sources:
  description:
    - One item per tracked entry of the source table. C(status) is one of C(current), C(update),
      C(held), C(skipped) or C(error). C(key), C(name), C(version), C(newest) (the newest release of its series
      upstream, when there is one) and C(reason) are always set. An update also has C(new_key),
      C(file), C(url), C(sha256), C(kept) (the old entry stays) and C(verified) (the checks that passed,
      empty when none did).
  type: list
  returned: always
requirements:
  description: One item per moved pin, with C(file), C(name), C(version) and C(newest).
  type: list
  returned: always
not_verified:
  description: Keys taken without a passing check (O(unverified_ok)) and why each check failed.
  type: list
  returned: always
summary:
  description: One line per tracked entry and per moved pin, for people.
  type: list
  returned: always
rewritten:
  description: Files rewritten by this run (none in check mode).
  type: list
  returned: always
"""

import glob
import os
import shutil
import tempfile


from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_files import sha256_of
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_source_edit import (
    held_keys, rewrite_references, rewrite_table, table_entries)
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_yaml_edit import write_atomically
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_pins import (
    PinError, hashes, index_files, kinds_of, newest_in_series, parse_requirements, pin_digests, releases,
    render_pin, render_requirements)
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_signatures import SIGNATURES, verify
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_sigstore import TABLE, signer_errors
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_upstreams import (
    FINAL, KIND_FIELDS, KINDS, UpdateError, download, upstream_releases)


def vkey(version):
    return tuple(int(p) for p in version.split("."))


def series(version):
    return vkey(version)[:2]


# ---------------------------------------------------------------- options


def option_errors(params):
    """Every rule the options break, before any request."""
    errors = []
    upstreams = params["upstreams"] or {}
    for name, comp in sorted((params["components"] or {}).items()):
        if not isinstance(comp, dict):
            errors.append("components.%s must be a dict with kind and signature" % name)
            continue
        kind = comp.get("kind")
        if kind not in KINDS:
            errors.append("components.%s: kind %r is not one of %s" % (name, kind, ", ".join(KINDS)))
            continue
        checks = comp.get("signature")
        if not isinstance(checks, list) or not checks or any(c not in SIGNATURES for c in checks):
            errors.append("components.%s: signature %r must be a non-empty list of %s" % (
                name, checks, ", ".join(SIGNATURES)))
        for field in KIND_FIELDS[kind]:
            if not comp.get(field):
                errors.append("components.%s: kind %s needs %s" % (name, kind, field))
        if not upstreams.get(kind):
            errors.append("components.%s: upstreams has no base URL for kind %s (upstreams: %s)" % (
                name, kind, ", ".join(sorted(upstreams)) or "none"))
        if "pgp" in (checks or []) and name not in (params["pgp_keys"] or {}):
            errors.append("components.%s: signature pgp needs pgp_keys.%s (keyring, fingerprints)" % (name, name))
        if "sigstore" in (checks or []) and not (params["sigstore_signers"] or {}).get(name):
            errors.append("components.%s: signature sigstore needs sigstore_signers.%s (major.minor to identity, "
                          "issuer: %s)" % (name, name, TABLE))
    errors.extend(signer_errors(params["sigstore_signers"]))
    for name, key in sorted((params["pgp_keys"] or {}).items()):
        if not isinstance(key, dict) or not key.get("keyring") or not key.get("fingerprints"):
            errors.append("pgp_keys.%s needs keyring (a file) and fingerprints (a list)" % name)
    if params["requirement_files"] and not upstreams.get("pypi"):
        errors.append("requirement_files need upstreams.pypi, the simple index's base URL")
    for ref in params["references"]:
        if not all(ref.get(f) for f in ("name", "file", "path")):
            errors.append("references: %r needs name, file and path (keys joined by '.', '*' for every item)"
                          % (ref,))
    errors.extend("requirement_files: %s matches no file" % p for p in params["requirement_files"]
                  if "*" in p and not glob.glob(p))
    paths = [params["sources_file"]] + [p for p in params["requirement_files"] if "*" not in p]
    paths += list(params["override_files"])
    paths += [r["file"] for r in params["references"] if r.get("file")]
    errors.extend("%s does not exist" % p for p in paths if not os.path.isfile(p))
    return errors


# ---------------------------------------------------------------- planning


def plan_sources(params, text):
    handle, data, entries = table_entries(text, params["sources_file"])
    held, override_texts = held_keys(params["override_files"])
    newest_of = {}
    for key, fields in entries.items():
        name, version = str(fields.get("name", "")), str(fields.get("version", ""))
        if name in params["components"] and FINAL.match(version):
            group = (name, series(version))
            if group not in newest_of or vkey(version) > vkey(newest_of[group][1]):
                newest_of[group] = (key, version)
    cache, plan = {}, []
    for key, fields in entries.items():
        name, version = str(fields.get("name", "")), str(fields.get("version", ""))
        if name not in params["components"]:
            continue
        item = {"key": key, "name": name, "version": version, "newest": None}
        plan.append(item)
        if not FINAL.match(version):
            item.update(status="skipped", reason="version %s is not X.Y.Z" % version)
            continue
        if newest_of[(name, series(version))][0] != key:
            item.update(status="skipped", reason="%s is the newest pin of series %d.%d" % (
                (newest_of[(name, series(version))][0],) + series(version)))
            continue
        if name not in cache:
            try:
                cache[name] = upstream_releases(name, params["components"][name], params["upstreams"],
                                                params["timeout"])
            except UpdateError as exc:
                cache[name] = exc
        ups = cache[name]
        if isinstance(ups, UpdateError):
            item.update(status="error", reason=str(ups))
            continue
        in_series = sorted((v for v in ups if series(v) == series(version)), key=vkey)
        item["newest"] = in_series[-1] if in_series else None
        if not in_series or vkey(in_series[-1]) <= vkey(version):
            newer = sorted((v for v in ups if vkey(v) > vkey(version)), key=vkey)
            item.update(status="current", reason="newest of series %d.%d upstream%s" % (
                series(version) + ((" (upstream also has %s, another series)" % newer[-1]) if newer else "",)))
            continue
        new_version = in_series[-1]
        new_key = "%s-%s" % (name, new_version)
        if key in held:
            item.update(status="held", reason="overridden in %s (a repack that follows Debian, not upstream); "
                        "upstream has %s" % (held[key], new_version))
            continue
        if new_key in entries:
            item.update(status="skipped", reason="%s is in the table already" % new_key)
            continue
        release = ups[new_version]
        kept = sorted(p for p, t in override_texts.items() if key in t or '"%s"' % version in t)
        item.update(status="update", new_key=new_key, new_version=new_version, file=release["file"],
                    url=release["url"], release=release, kept=kept,
                    reason=("kept for %s; %s added after it" % (", ".join(kept), new_key)) if kept else
                    "replaced by %s" % new_key)
    return handle, data, plan


def requirement_paths(patterns):
    """The files of `patterns` (paths, or glob patterns with *), each once, in order."""
    out = []
    for pattern in patterns:
        for path in (sorted(glob.glob(pattern)) if "*" in pattern else [pattern]):
            if path not in out:
                out.append(path)
    return out


def plan_requirements(params):
    """[(path, items, moves)] for each requirement file, the moved pins' blocks rewritten."""
    pages, out = {}, []
    index = params["upstreams"].get("pypi")
    for path in requirement_paths(params["requirement_files"]):
        with open(path) as handle:
            text = handle.read()
        try:
            items = parse_requirements(text, path)
            moves = []
            for number, item in enumerate(items):
                if item[0] != "pin":
                    continue
                _, name, version, lines = item
                if name not in pages:
                    pages[name] = index_files(name, index, params["timeout"])
                newest = newest_in_series(version, releases(pages[name]), params["pypi_keep"])
                if newest is None:
                    continue
                kinds = kinds_of(pages[name], pin_digests(lines)) or ("wheel", "sdist")
                digests = hashes(name, str(newest), index, page=pages[name], kinds=kinds)
                items[number] = ("pin", name, str(newest), render_pin(name, str(newest), digests))
                moves.append({"file": path, "name": name, "version": version, "newest": str(newest),
                              "kinds": list(kinds)})
        except PinError as exc:
            raise UpdateError(str(exc))
        out.append((path, text, render_requirements(items), moves))
    return out


def summary(result, check_mode):
    lines = []
    for item in result["sources"]:
        if item["status"] == "update":
            line = "%s: %s %s (%s)" % (item["key"], "would move to" if check_mode else "moved to",
                                       item["new_version"], item["reason"])
            if not check_mode:
                line += "; checked: %s" % ("; ".join(item.get("verified") or []) or "NOT VERIFIED (unverified_ok)")
        else:
            line = "%s: %s (%s)" % (item["key"], item["status"], item["reason"])
        lines.append(line)
    for move in result["requirements"]:
        lines.append("%s: %s %s -> %s (sha256 of its %s from the index)" % (
            move["file"], move["name"], move["version"], move["newest"], " and ".join(move["kinds"])))
    return lines


def run(params, check_mode):
    """The module's work; returns its result dict, raises UpdateError with nothing written."""
    result = _run(params, check_mode)
    result["summary"] = summary(result, check_mode)
    return result


def _run(params, check_mode):
    with open(params["sources_file"]) as handle:
        text = handle.read()
    handle, data, plan = plan_sources(params, text)
    requirements = plan_requirements(params)
    failed = [p for p in plan if p["status"] == "error"]
    if failed:
        raise UpdateError("nothing was rewritten, an upstream cannot be read: " + " | ".join(
            "%s: %s" % (p["key"], p["reason"]) for p in failed))
    updates = [p for p in plan if p["status"] == "update"]
    result = {"sources": plan, "requirements": [m for r in requirements for m in r[3]], "not_verified": [],
              "rewritten": []}
    changed = bool(updates or result["requirements"])
    if check_mode or not changed:
        for item in plan:
            item.pop("release", None)
        return dict(result, changed=changed)
    scratch = tempfile.mkdtemp(prefix="manylinux-source-update-")
    try:
        errors = []
        for item in updates:
            release = item.pop("release")
            path = os.path.join(scratch, item["file"])
            try:
                download(item["url"], path, params["timeout"])
            except UpdateError as exc:
                errors.append("%s: %s" % (item["new_key"], exc))
                continue
            item["sha256"] = sha256_of(path)
            item["verified"], failures = verify(
                path, item["name"], item["new_version"], params["components"][item["name"]]["signature"], release,
                params["pgp_keys"], params["sigstore_signers"], scratch, params["timeout"])
            item["path"] = path
            if not item["verified"]:
                if item["name"] in params["unverified_ok"]:
                    result["not_verified"].append({"key": item["new_key"], "failures": failures})
                else:
                    errors.append("%s (%s): refused, no check passed: %s" % (
                        item["new_key"], item["file"], "; ".join(failures)))
        if errors:
            raise UpdateError("nothing was rewritten: " + " | ".join(errors))
        texts = {params["sources_file"]: rewrite_table(params["sources_file"], text, handle, data, updates)}
        texts.update(rewrite_references(params, updates, texts))
        texts.update({path: new for path, old, new, moves in requirements if moves})
        for path, new in texts.items():
            write_atomically(path, new)
            result["rewritten"].append(path)
        if params.get("cache_dir"):
            os.makedirs(params["cache_dir"], exist_ok=True)
            for item in updates:
                shutil.move(item.pop("path"), os.path.join(params["cache_dir"], item["file"]))
        for item in updates:
            item.pop("path", None)
        return dict(result, changed=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sources_file=dict(type="path", required=True),
            requirement_files=dict(type="list", elements="path", default=[]),
            components=dict(type="dict", required=True),
            upstreams=dict(type="dict", required=True),
            pgp_keys=dict(type="dict", default={}),
            sigstore_signers=dict(type="dict", default={}),
            override_files=dict(type="list", elements="path", default=[]),
            references=dict(type="list", elements="dict", default=[]),
            pypi_keep=dict(type="str", choices=["minor", "major"], default="minor"),
            unverified_ok=dict(type="list", elements="str", default=[]),
            cache_dir=dict(type="path"),
            timeout=dict(type="int", default=60),
        ),
        supports_check_mode=True,
    )
    errors = option_errors(module.params)
    if errors:
        module.fail_json(msg="; ".join(errors), errors=errors)
    try:
        result = run(module.params, module.check_mode)
    except UpdateError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
