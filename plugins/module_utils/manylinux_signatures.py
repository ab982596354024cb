"""The pin updater's checks of a new upstream release, each by its name in a component's `signature`.

`pgp` runs gpg against a pinned keyring in a GNUPGHOME of its own, with upstream's detached `.asc`;
`sha3-page` compares the file with the sha3-256 of sqlite's download page (integrity, not a signature);
`sigstore` downloads upstream's `.sigstore` bundle and checks it offline (manylinux_sigstore). A check
that fails raises UpdateError (manylinux_upstreams) saying why.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_files import file_digest
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_sigstore import (
    TABLE, SigstoreError, signer_for, verify_file)
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_upstreams import UpdateError, download

SIGNATURES = ("pgp", "sigstore", "sha3-page")


def key_expiry(env, fingerprint):
    """Expiry (epoch seconds) of the key or subkey with this fingerprint, None if it has none."""
    listing = subprocess.run(["gpg", "--batch", "--with-colons", "--fixed-list-mode", "--list-keys"], env=env,
                             capture_output=True, text=True).stdout
    expiry = None
    for fields in (line.split(":") for line in listing.splitlines()):
        if fields[0] in ("pub", "sub"):
            expiry = int(fields[6]) if fields[6] else None
        elif fields[0] == "fpr" and fields[9] == fingerprint:
            return expiry
    return None


def check_pgp(path, release, key, scratch, timeout):
    if not release.get("asc"):
        raise UpdateError("pgp: upstream publishes no .asc signature for %s" % os.path.basename(path))
    keyring = key["keyring"]
    if not os.path.isfile(keyring):
        raise UpdateError("pgp: the keyring %s does not exist (put upstream's public release key there; "
                          "fingerprints accepted: %s)" % (keyring, ", ".join(key["fingerprints"])))
    signature = path + ".asc"
    download(release["asc"], signature, timeout)
    home = tempfile.mkdtemp(prefix="gnupg-", dir=scratch)
    os.chmod(home, 0o700)
    env = dict(os.environ, GNUPGHOME=home)
    imported = subprocess.run(["gpg", "--batch", "--quiet", "--import", keyring], env=env, capture_output=True)
    if imported.returncode != 0:
        raise UpdateError("pgp: gpg cannot import %s: %s" % (keyring, imported.stderr.decode("utf-8", "replace").strip()))
    proc = subprocess.run(["gpg", "--batch", "--status-fd", "1", "--verify", signature, path], env=env,
                          capture_output=True)
    status = proc.stdout.decode("utf-8", "replace")
    allowed = {re.sub(r"\s", "", f).upper() for f in key["fingerprints"]}
    for match in re.finditer(r"^\[GNUPG:\] VALIDSIG (\S+) \S+ (\d+) .* (\S+)$", status, re.M):
        if proc.returncode != 0 or not ({match.group(1), match.group(3)} & allowed):
            continue
        if "[GNUPG:] GOODSIG" in status:
            return "pgp: good signature by %s" % match.group(3)
        # A release key that has expired since it signed still vouches for
        # what it signed while it was valid (OpenSSL's keys expire yearly).
        expiry = key_expiry(env, match.group(1))
        if "[GNUPG:] EXPKEYSIG" in status and expiry and int(match.group(2)) < expiry:
            return "pgp: good signature by %s (made before the key expired)" % match.group(3)
    raise UpdateError("pgp: no good signature of %s by a key of %s (%s): %s" % (
        os.path.basename(path), keyring, ", ".join(sorted(allowed)),
        proc.stderr.decode("utf-8", "replace").strip().replace("\n", "; ") or "no valid signature"))


def check_sha3(path, release):
    digest = file_digest(path, "sha3_256")
    if not release.get("sha3"):
        raise UpdateError("sha3-page: the download page gives no sha3-256 for %s" % os.path.basename(path))
    if digest != release["sha3"]:
        raise UpdateError("sha3-page: %s has sha3-256 %s, the download page says %s" % (
            os.path.basename(path), digest, release["sha3"]))
    return "sha3-page: sha3-256 equals the download page's (integrity, not a signature)"


def check_sigstore(path, name, version, release, signers, timeout):
    signer = signer_for(signers, name, version)
    if not signer:
        raise UpdateError("sigstore: sigstore_signers names no signer of %s %s (%s)" % (
            name, ".".join(version.split(".")[:2]), TABLE))
    if not release.get("sigstore"):
        raise UpdateError("sigstore: upstream publishes no .sigstore bundle for %s" % os.path.basename(path))
    bundle = path + ".sigstore"
    try:
        download(release["sigstore"], bundle, timeout)
    except UpdateError as exc:
        raise UpdateError("sigstore: the bundle of %s is missing: %s" % (os.path.basename(path), exc))
    try:
        return verify_file(path, bundle, signer["identity"], signer["issuer"], signer.get("instance", "production"))
    except SigstoreError as exc:
        raise UpdateError(str(exc))


def verify(path, name, version, checks, release, pgp_keys, signers, scratch, timeout):
    """(passed checks, failures) of `checks` (a component's `signature`), in order, stopping at the first
    that passes."""
    failures = []
    for check in checks:
        try:
            if check == "pgp":
                return [check_pgp(path, release, pgp_keys[name], scratch, timeout)], failures
            if check == "sha3-page":
                return [check_sha3(path, release)], failures
            return [check_sigstore(path, name, version, release, signers, timeout)], failures
        except UpdateError as exc:
            failures.append(str(exc))
    return [], failures
