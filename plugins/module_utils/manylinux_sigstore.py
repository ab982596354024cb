"""Offline sigstore verification of a file, shared by the pin updater and the source fetch.

One function does the check (`verify_file`); the signer table (`build_sigstore_signers`,
inventories/default/group_vars/all/signers.yml) is data: source name -> major.minor ->
{identity, issuer, instance}. sigstore-python (requirements.txt) is imported only when a
check runs, so the modules that import this work without it until they are asked to check.
"""

from __future__ import annotations

import json
import logging
import os
import re

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_files import sha256_of

INSTANCES = ("production", "staging")
IN_TOTO = "application/vnd.in-toto+json"
SERIES = re.compile(r"^\d+\.\d+$")
TABLE = "build_sigstore_signers (inventories/default/group_vars/all/signers.yml)"


class SigstoreError(Exception):
    pass


def signer_errors(table, option="sigstore_signers"):
    """Every rule the signer table breaks: {name: {"X.Y": {identity, issuer[, instance]}}}."""
    if not isinstance(table, dict):
        return ["%s must be a dict: source name -> major.minor -> {identity, issuer, instance}" % option]
    errors = []
    for name, by_series in sorted(table.items()):
        if not isinstance(by_series, dict):
            errors.append("%s.%s must be a dict of major.minor (such as \"3.14\") to a signer" % (option, name))
            continue
        for series, signer in sorted(by_series.items(), key=lambda item: str(item[0])):
            where = "%s.%s.%s" % (option, name, series)
            if not SERIES.match(str(series)):
                errors.append("%s: the key must be a major.minor such as \"3.14\" (quoted in YAML)" % where)
            if not isinstance(signer, dict) or not signer.get("identity") or not signer.get("issuer"):
                errors.append("%s needs identity (the certificate's e-mail or URI) and issuer (its OIDC issuer)"
                              % where)
            elif signer.get("instance", "production") not in INSTANCES:
                errors.append("%s: instance %r is not one of %s" % (where, signer["instance"], ", ".join(INSTANCES)))
    return errors


def signer_for(table, name, version):
    """The signer of `name` at `version`'s major.minor, or None when the table names none."""
    series = ".".join(str(version).split(".")[:2])
    return ((table or {}).get(name) or {}).get(series)


def verify_file(path, bundle_path, identity, issuer, instance="production"):
    """Check that the sigstore bundle `bundle_path` signs the bytes of `path`.

    The bundle's certificate must name `identity` (its e-mail or URI) issued on the OIDC
    `issuer`, chain to `instance`'s Fulcio and be logged in its Rekor (production or
    staging), checked against sigstore-python's trust root with no network: the one it
    embeds, or a newer one an earlier online run put in its TUF cache. The bundle either
    signs the file's digest (python.org's) or is a DSSE envelope whose in-toto statement
    names the file's sha256 (PyPI's attestations). Returns what passed; raises SigstoreError
    naming the file, the bundle and the rule.
    """
    if instance not in INSTANCES:
        raise SigstoreError("sigstore: instance %r is not one of %s" % (instance, ", ".join(INSTANCES)))
    if not identity or not issuer:
        raise SigstoreError("sigstore: %s needs both an identity and an issuer to check it against" % path)
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise SigstoreError("sigstore: %s does not exist" % path)
    if not os.path.isfile(bundle_path):
        raise SigstoreError("sigstore: the bundle %s of %s is missing (a signed release has <file>.sigstore "
                            "beside it)" % (bundle_path, name))
    try:
        from sigstore.errors import Error as SigstoreLibraryError
        from sigstore.hashes import Hashed
        from sigstore.models import Bundle
        from sigstore.verify import Verifier, policy
        from sigstore_models.common.v1 import HashAlgorithm
    except ImportError as exc:
        raise SigstoreError("sigstore: sigstore-python is not installed (%s); it is pinned in requirements.txt: "
                            "pip install --require-hashes -r requirements.txt" % exc)
    with open(bundle_path, "rb") as handle:
        raw = handle.read()
    try:
        content = json.loads(raw)
        bundle = Bundle.from_json(raw)
    except Exception as exc:  # noqa: BLE001 - json, pydantic and sigstore each raise their own
        raise SigstoreError("sigstore: %s is not a sigstore bundle: %s" % (bundle_path, exc))
    digest = sha256_of(path)
    expected = "%s (issuer %s) on sigstore's %s instance" % (identity, issuer, instance)
    # offline: the trust root sigstore-python has, never a TUF refresh
    logging.getLogger("sigstore").setLevel(logging.ERROR)
    try:
        verifier = Verifier.production(offline=True) if instance == "production" else Verifier.staging(offline=True)
        wanted = policy.Identity(identity=identity, issuer=issuer)
        if "dsseEnvelope" in content:
            kind, payload = verifier.verify_dsse(bundle, wanted)
            statement_names(kind, payload, digest, name, bundle_path)
            how = "an in-toto statement naming its sha256"
        else:
            verifier.verify_artifact(Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(digest)),
                                     bundle, wanted)
            how = "its digest"
    except SigstoreLibraryError as exc:
        raise SigstoreError("sigstore: %s (sha256 %s) is not signed by %s according to %s: %s" % (
            name, digest, expected, bundle_path, exc))
    return "sigstore: %s signed by %s (%s, offline)" % (how, expected, os.path.basename(bundle_path))


def statement_names(kind, payload, digest, name, bundle_path):
    """Raise SigstoreError unless the signed in-toto statement has a subject with `digest`."""
    if kind != IN_TOTO:
        raise SigstoreError("sigstore: %s signs a %s payload, not an in-toto statement (%s)" % (
            bundle_path, kind, IN_TOTO))
    try:
        subjects = json.loads(payload).get("subject") or []
        digests = [s.get("digest", {}).get("sha256") for s in subjects]
    except (ValueError, AttributeError) as exc:
        raise SigstoreError("sigstore: the statement %s signs is not an in-toto statement: %s" % (bundle_path, exc))
    if digest not in digests:
        raise SigstoreError("sigstore: %s (sha256 %s) is not what %s signs (its statement names sha256 %s)" % (
            name, digest, bundle_path, ", ".join(str(d) for d in digests) or "nothing"))
