"""Digests of files on the controller, read in blocks: the pins of sources, wheels and layers.

Pure file helpers, no docker: the source fetch, the wheel fetch, the pin updater, the SBOM, the
rootfs image, the sigstore check and the artifact cache all hash files the same way.
"""

from __future__ import annotations

import hashlib

CHUNK = 1 << 20


def file_digest(path, algorithm="sha256"):
    """The hex digest of the file `path` by `algorithm` (a hashlib name: sha256, sha3_256)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path):
    """The sha256 (hex) of the file `path`."""
    return file_digest(path, "sha256")
