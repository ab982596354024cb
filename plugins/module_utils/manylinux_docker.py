"""The docker CLI and the artifact cache, for the controller-side modules of the component engine.

An artifact is a directory `<cache>/<name>-<key prefix>/` holding `artifact.json` (written last:
its presence means the directory is complete) and the tar files it names, each with its size
and sha256. Tar files stream into containers through `docker cp - CONTAINER:/`, hashed on the way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_files import sha256_of

CHUNK = 1 << 20


class DockerError(Exception):
    pass


class DigestMismatch(DockerError):
    """A streamed file was not the bytes its sha256 names."""


def docker(*args, stdin=None, check=True):
    """Run the docker CLI; return stdout (text). Raise DockerError naming the command on failure."""
    proc = subprocess.run(["docker", *args], stdin=stdin, capture_output=True)
    if check and proc.returncode != 0:
        raise DockerError("docker %s failed (exit %d): %s" % (
            " ".join(args[:3]), proc.returncode, proc.stderr.decode("utf-8", "replace").strip()))
    return proc.stdout.decode("utf-8", "replace")


def read_meta(directory):
    try:
        with open(os.path.join(directory, "artifact.json")) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def stream_into(container, path, expected_sha256, expected_size=None, argv=None):
    """Stream the file `path` into `container`, checking its size and sha256 as it goes; return stdout.

    By default the file is a tar extracted at / (docker cp); `argv` (docker arguments) runs another
    command that reads the file on its stdin (a source archive into tar -x). Raises DockerError when
    the file is not the one recorded (the container then holds bad data and must be thrown away)."""
    if not os.path.isfile(path) or (expected_size is not None and os.path.getsize(path) != expected_size):
        raise DockerError("%s is missing or not %d bytes" % (path, expected_size or 0))
    argv = argv or ["cp", "-", "%s:/" % container]
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(["docker", *argv], stdin=subprocess.PIPE, stdout=output, stderr=errors)
        reading = proc.stdin
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
                if reading:
                    try:
                        reading.write(block)
                    except BrokenPipeError:
                        # the reader gave up (a bad archive): the rest is still hashed, to say why
                        reading = None
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
        proc.wait()
        errors.seek(0)
        err = errors.read()
        output.seek(0)
        out = output.read().decode("utf-8", "replace")
    # the bytes first: a changed file is why a reader fails, and the message says so
    if digest.hexdigest() != expected_sha256:
        raise DigestMismatch("%s has sha256 %s, not %s as recorded" % (path, digest.hexdigest(), expected_sha256))
    if proc.returncode != 0:
        raise DockerError("docker %s of %s into %s failed: %s" % (
            argv[0], path, container, err.decode("utf-8", "replace").strip()))
    return out


def import_artifact(container, directory, parts=("image.tar", "private.tar")):
    """Extract the named tar files of the artifact in `directory` into `container`.

    A corrupt artifact (wrong size or hash) is removed from the cache, so that the next build
    makes it again, and DockerError names it."""
    meta = read_meta(directory)
    if meta is None:
        raise DockerError("no complete artifact in %s" % directory)
    try:
        for part in parts:
            if part in meta["files"]:
                info = meta["files"][part]
                stream_into(container, os.path.join(directory, info["file"]), info["sha256"], info["size"])
    except DockerError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise DockerError("the cached artifact of %s is damaged and was removed (%s); run the build again to "
                          "make it anew" % (meta.get("name", directory), exc))
    return meta


def store_artifact(container, directory, files, meta):
    """Copy `files` ({name: path in container}) out of `container` into the cache directory
    `directory`, atomically: a partial directory is renamed into place once complete.

    Returns (stored, meta): stored is False when another build stored the same key first."""
    cache = os.path.dirname(directory)
    os.makedirs(cache, exist_ok=True)
    existing = read_meta(directory)
    if existing and existing.get("key") == meta["key"]:
        return False, existing
    partial = tempfile.mkdtemp(prefix=".partial-%s-" % os.path.basename(directory), dir=cache)
    try:
        recorded = {}
        for name, remote in sorted(files.items()):
            local = os.path.join(partial, name)
            docker("cp", "%s:%s" % (container, remote), local)
            recorded[name] = {"file": name, "size": os.path.getsize(local), "sha256": sha256_of(local)}
        meta = dict(meta, files=recorded)
        with open(os.path.join(partial, "artifact.json"), "w") as handle:
            json.dump(meta, handle, indent=1, sort_keys=True)
        if not place_artifact(partial, directory, meta["key"]):
            return False, read_meta(directory)
        return True, meta
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def place_artifact(partial, directory, key):
    """Rename the complete directory `partial` to the artifact `directory` (an incomplete or damaged one of that name
    is replaced); False when another build put the same key there first (`partial` is then removed)."""
    os.chmod(partial, 0o755)
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    try:
        os.rename(partial, directory)
    except OSError:
        if (read_meta(directory) or {}).get("key") == key:
            shutil.rmtree(partial, ignore_errors=True)
            return False
        raise
    return True
