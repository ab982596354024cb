"""module_utils/manylinux_sigstore: real bundles checked offline, and every way one must be refused."""

import shutil

import pytest

from ansible_collections.manylinux_shared.factory.plugins.module_utils import manylinux_sigstore as sig
from conftest import load_group_vars

MODELS = "pypi_attestation_models-0.0.4a2.tar.gz"  # production, a GitHub Actions workflow
WHEEL = "rfc8785-0.1.2-py3-none-any.whl"  # staging, an e-mail on GitHub's OAuth


def check(asset, **changes):
    args = dict(path=asset["path"], bundle_path=asset["bundle"], identity=asset["identity"],
                issuer=asset["issuer"], instance=asset["instance"])
    args.update(changes)
    return sig.verify_file(**args)


@pytest.mark.parametrize("name", [MODELS, WHEEL])
def test_a_real_bundle_is_accepted_with_no_network(sigstore_assets, no_network, name):
    asset = sigstore_assets[name]
    found = check(asset)
    assert found.startswith("sigstore: ") and "signed by %s (issuer %s)" % (asset["identity"], asset["issuer"]) in found
    assert "%s instance" % asset["instance"] in found and "offline" in found


@pytest.mark.parametrize("name", [MODELS, WHEEL])
def test_one_changed_byte_is_refused(sigstore_assets, no_network, tmp_path, name):
    asset = sigstore_assets[name]
    data = bytearray(open(asset["path"], "rb").read())
    data[len(data) // 2] ^= 0x01
    changed = tmp_path / name
    changed.write_bytes(bytes(data))
    with pytest.raises(sig.SigstoreError, match=r"%s \(sha256 [0-9a-f]{64}\) is not what .* signs" % name):
        check(asset, path=str(changed))


def test_another_identity_is_refused(sigstore_assets, no_network):
    with pytest.raises(sig.SigstoreError, match="is not signed by hugo@python.org .*SANs do not match"):
        check(sigstore_assets[WHEEL], identity="hugo@python.org")


def test_another_issuer_is_refused(sigstore_assets, no_network):
    with pytest.raises(sig.SigstoreError, match="OIDCIssuer does not match"):
        check(sigstore_assets[WHEEL], issuer="https://accounts.google.com")


def test_another_instance_is_refused(sigstore_assets, no_network):
    with pytest.raises(sig.SigstoreError, match="on sigstore's production instance"):
        check(sigstore_assets[WHEEL], instance="production")


def test_a_missing_bundle_is_named(sigstore_assets, tmp_path):
    asset = sigstore_assets[WHEEL]
    with pytest.raises(sig.SigstoreError, match="the bundle %s of %s is missing" % (tmp_path / "none.sigstore", WHEEL)):
        check(asset, bundle_path=str(tmp_path / "none.sigstore"))


def test_a_bundle_of_another_file_is_refused(sigstore_assets, no_network, tmp_path):
    # a good bundle, by the right signer, of other bytes
    models, wheel = sigstore_assets[MODELS], sigstore_assets[WHEEL]
    shutil.copyfile(models["bundle"], tmp_path / "other.sigstore")
    with pytest.raises(sig.SigstoreError, match="is not what"):
        check(models, path=wheel["path"], bundle_path=str(tmp_path / "other.sigstore"))


def test_what_is_not_a_bundle_is_named(sigstore_assets, tmp_path):
    (tmp_path / "junk.sigstore").write_text("{}")
    with pytest.raises(sig.SigstoreError, match="junk.sigstore is not a sigstore bundle"):
        check(sigstore_assets[WHEEL], bundle_path=str(tmp_path / "junk.sigstore"))


def test_an_unknown_instance_and_a_missing_issuer_are_named(sigstore_assets):
    with pytest.raises(sig.SigstoreError, match="instance 'prod' is not one of production, staging"):
        check(sigstore_assets[WHEEL], instance="prod")
    with pytest.raises(sig.SigstoreError, match="needs both an identity and an issuer"):
        check(sigstore_assets[WHEEL], issuer="")


def test_the_signer_table_names_cpythons_release_managers():
    table = load_group_vars("signers.yml")["build_sigstore_signers"]
    assert sig.signer_errors(table) == []
    assert sig.signer_for(table, "cpython", "3.14.6") == {
        "identity": "hugo@python.org", "issuer": "https://github.com/login/oauth"}
    assert sig.signer_for(table, "cpython", "3.15.0")["identity"] == "hugo@python.org"
    assert sig.signer_for(table, "cpython", "3.13.14") == {
        "identity": "thomas@python.org", "issuer": "https://accounts.google.com"}
    assert sig.signer_for(table, "cpython", "3.10.22")["identity"] == "pablogsal@python.org"
    assert sig.signer_for(table, "cpython", "3.9.2") is None and sig.signer_for(table, "openssl", "3.5.7") is None


def test_a_broken_signer_table_names_each_rule():
    errors = sig.signer_errors({"cpython": {"3.14": {"identity": "hugo@python.org"}, 3.1: {
        "identity": "a", "issuer": "b", "instance": "prod"}, "3": {"identity": "a", "issuer": "b"}}, "tcl": []})
    assert "sigstore_signers.cpython.3.14 needs identity (the certificate's e-mail or URI) and issuer " \
           "(its OIDC issuer)" in errors
    assert "sigstore_signers.cpython.3.1: instance 'prod' is not one of production, staging" in errors
    assert any(e.startswith("sigstore_signers.cpython.3: the key must be a major.minor") for e in errors)
    assert any(e.startswith("sigstore_signers.tcl must be a dict") for e in errors)


def test_no_network_refuses_what_is_not_loopback(no_network):
    import socket
    with socket.socket() as sock, pytest.raises(OSError, match="no network"):
        sock.connect(("192.0.2.1", 443))
