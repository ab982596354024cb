import functools
import hashlib
import http.server
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import threading
import urllib.request

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "plugins", "filter"))
sys.path.insert(0, os.path.join(ROOT, "plugins", "modules"))
sys.path.insert(0, os.path.join(ROOT, "plugins", "module_utils"))
# the modules import their shared code as the collection's:
# ansible_collections.manylinux_shared.factory.plugins.module_utils.<name>, and
# collections/ansible_collections/manylinux_shared/factory is this repository
sys.path.insert(0, os.path.join(ROOT, "collections"))
from manylinux_files import sha256_of  # noqa: E402 - found through the paths above

GROUP_VARS = os.path.join(ROOT, "inventories", "default", "group_vars", "all")


def load_group_vars(name):
    with open(os.path.join(GROUP_VARS, name)) as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="session")
def policies():
    return load_group_vars("policies.yml")


@pytest.fixture(scope="session")
def sources():
    return load_group_vars("sources.yml")["build_sources"]


# Real sigstore bundles and the files they sign, from an sdist on PyPI pinned by
# its sha256 (pypi-attestations' test assets): downloaded once into the fixture
# cache through a temporary file, checked on every use.
SIGSTORE_SDIST = {
    "file": "pypi_attestations-0.0.31.tar.gz",
    "url": "https://files.pythonhosted.org/packages/b2/e2/61dacf2a7ae4cc5a3671f528a8e1d0a84b3ed032c1da5ebb3297f41d58b3/"
           "pypi_attestations-0.0.31.tar.gz",
    "sha256": "5a2473aca7d7f65caf2c3a985691c5cf9264a97fa68c98fbae6e96320bcc7c9a",
}
FIXTURE_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "manylinux-shared", "test-fixtures")
# Each asset: its signer, as its bundle's certificate names it (SAN, OIDC issuer extension).
SIGSTORE_ASSETS = {
    # production, a GitHub Actions workflow identity
    "pypi_attestation_models-0.0.4a2.tar.gz": {
        "identity": "https://github.com/trailofbits/pypi-attestation-models/.github/workflows/release.yml"
                    "@refs/tags/v0.0.4a2",
        "issuer": "https://token.actions.githubusercontent.com", "instance": "production"},
    # staging, an e-mail identity on GitHub's OAuth issuer, as CPython 3.14's release manager signs
    "rfc8785-0.1.2-py3-none-any.whl": {
        "identity": "william@yossarian.net", "issuer": "https://github.com/login/oauth", "instance": "staging"},
}


def _cached_sdist():
    """The pinned sdist's path in the fixture cache, downloaded when missing; None when PyPI is unreachable."""
    path = os.path.join(FIXTURE_CACHE, SIGSTORE_SDIST["file"])
    if os.path.isfile(path) and sha256_of(path) == SIGSTORE_SDIST["sha256"]:
        return path
    os.makedirs(FIXTURE_CACHE, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=FIXTURE_CACHE)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(SIGSTORE_SDIST["url"], timeout=60) as response:
                    shutil.copyfileobj(response, out)
            except OSError:
                return None
        actual = sha256_of(tmp)
        if actual != SIGSTORE_SDIST["sha256"]:
            pytest.fail("%s from %s has sha256 %s, pinned %s" % (
                SIGSTORE_SDIST["file"], SIGSTORE_SDIST["url"], actual, SIGSTORE_SDIST["sha256"]))
        os.rename(tmp, path)
        return path
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@pytest.fixture(scope="session")
def sigstore_assets(tmp_path_factory):
    """{file name: {path, bundle, identity, issuer, instance}} of real signed files and their bundles."""
    sdist = _cached_sdist()
    if sdist is None:
        pytest.skip("PyPI is unreachable and %s lacks %s" % (FIXTURE_CACHE, SIGSTORE_SDIST["file"]))
    out = tmp_path_factory.mktemp("sigstore-assets")
    assets = {}
    with tarfile.open(sdist) as archive:
        for name, signer in SIGSTORE_ASSETS.items():
            for member in (name, name + ".sigstore"):
                source = archive.extractfile("pypi_attestations-0.0.31/test/assets/" + member)
                (out / member).write_bytes(source.read())
            assets[name] = dict(signer, path=str(out / name), bundle=str(out / (name + ".sigstore")))
    return assets


@pytest.fixture
def no_network(monkeypatch):
    """Sockets may reach 127.0.0.1 only (the tests' fake upstreams): proves a check is offline."""
    real = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1"):
            raise OSError("test: no network (connect to %s refused)" % (address,))
        return real(sock, address)
    monkeypatch.setattr(socket.socket, "connect", connect)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_directory(tmp_path):
    """(directory, base URL) of an HTTP server on 127.0.0.1 serving a fresh directory for the test."""
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()
