#!/usr/bin/python
"""A component's sources and files (rendered on the controller, wheels) into its container, each streamed once."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_container_files
short_description: Unpack a component's sources and copy its files into its container, each checked against its pin
description:
  - Runs on the controller. Streams each source archive of O(sources) from O(source_cache) into
    C(tar -x) in the container's O(unpack_dir), hashing it as it is read (the controller reads it once,
    the container decompresses it once); one whose sha256 is not its pin fails the task naming it and
    its sha256, and is removed from the cache (the container is thrown away). Returns the top directory
    each archive unpacked to.
  - Writes every file of O(files) into one tar stream (owner root, the file's
    mode) that C(docker cp - CONTAINER:/) unpacks, so that a component with dozens of wheels costs one
    C(docker cp), not a copy task per file.
  - Each file is hashed as it is read; one whose sha256 is not the one the plan recorded (changed on
    the controller since the plan, which keys the component by it) fails the task naming the file,
    and nothing is copied.
  - The directories of the destinations and O(unpack_dir) must exist in the container (the engine
    makes them first).
options:
  container:
    description: The component's container.
    type: str
    required: true
  files:
    description:
      - The plan's files of the component, each with C(dest), C(sha256), optional C(mode) (default
        C(0644)) and one of C(src) (a controller path) or C(content) (text).
    type: list
    elements: dict
    default: []
  sources:
    description:
      - The plan's sources of the component, each with C(file) (its name in O(source_cache)) and
        C(sha256); tar archives, compressed with gzip, xz, bzip2 or zstd (told by the name) or not.
    type: list
    elements: dict
    default: []
  source_cache:
    description: The controller's source cache (C(build_source_cache)); required with O(sources).
    type: path
  unpack_dir:
    description: The container's directory the sources unpack into; required with O(sources).
    type: str
"""

EXAMPLES = r"""
- name: Bring in the component's sources and files
  manylinux_shared.factory.manylinux_container_files:
    container: manylinux-component-build-1-python-tools
    sources: "{{ component_build_component.sources }}"
    source_cache: "{{ build_source_cache }}"
    unpack_dir: /tmp/manylinux-build/src
    files: "{{ component_build_component.files }}"
"""

RETURN = r"""
copied:
  description: The destinations written, in order.
  type: list
  elements: str
  returned: always
roots:
  description: The top directory each source archive unpacked to (under O(unpack_dir)), in order.
  type: list
  elements: str
  returned: always
"""

import hashlib
import io
import os
import tarfile
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_docker import (
    DigestMismatch, DockerError, docker, stream_into)

CHUNK = 1 << 20
# tar's decompression option by the archive's name (tar cannot tell it from a pipe)
COMPRESSION = ((".tar.gz", "-z"), (".tgz", "-z"), (".tar.xz", "-J"), (".txz", "-J"), (".tar.bz2", "-j"),
               (".tar.zst", "--zstd"), (".tar", ""))


class FilesError(Exception):
    pass


class _Hashing(io.RawIOBase):
    """A file read once: hashed while tarfile copies it."""

    def __init__(self, handle):
        self.handle, self.digest = handle, hashlib.sha256()

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.handle.read(len(buffer))
        self.digest.update(data)
        buffer[:len(data)] = data
        return len(data)


def _member(item):
    dest = str(item.get("dest", ""))
    if not dest.startswith("/") or ".." in dest.split("/"):
        raise FilesError("file %r: dest must be an absolute path without '..'" % dest)
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.mode = int(str(item.get("mode") or "0644"), 8)
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def write_tar(files, out):
    """Write the tar stream of `files` to the binary file `out`; return the destinations.

    Raises FilesError when a file is missing or not the bytes its sha256 names."""
    written = []
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        for item in files:
            info = _member(item)
            if "content" in item and item["content"] is not None:
                data = str(item["content"]).encode()
                actual = hashlib.sha256(data).hexdigest()
                if item.get("sha256") and actual != item["sha256"]:
                    raise FilesError("the content for %s is not what the plan keyed (sha256 %s, not %s)"
                                     % (item["dest"], actual, item["sha256"]))
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            else:
                path = os.path.expanduser(str(item.get("src", "")))
                try:
                    handle = open(path, "rb")
                except OSError as exc:
                    raise FilesError("file %s (for %s) cannot be read on the controller: %s"
                                     % (path, item["dest"], exc.strerror))
                with handle:
                    info.size = os.fstat(handle.fileno()).st_size
                    reader = _Hashing(handle)
                    archive.addfile(info, io.BufferedReader(reader, CHUNK))
                if item.get("sha256") and reader.digest.hexdigest() != item["sha256"]:
                    raise FilesError("%s changed on the controller since the plan keyed it (sha256 %s, not %s)"
                                     % (path, reader.digest.hexdigest(), item["sha256"]))
            written.append(item["dest"])
    return written


def copy_into(container, files):
    # the whole stream is written and checked first: a bad file copies nothing
    with tempfile.TemporaryFile() as stream:
        written = write_tar(files, stream)
        stream.seek(0)
        try:
            docker("cp", "-", "%s:/" % container, stdin=stream)
        except DockerError as exc:
            raise FilesError("the files did not reach %s: %s" % (container, exc))
    return written


def archive_root(names):
    """The one top directory of an archive, from the member names tar lists; FilesError otherwise."""
    roots = []
    for name in names:
        parts = [p for p in str(name).split("/") if p not in ("", ".")]
        if parts and parts[0] not in roots:
            roots.append(parts[0])
    if len(roots) != 1:
        raise FilesError("expected an archive with one top directory, found %s" % (", ".join(roots[:5]) or "none"))
    return roots[0]


def tar_option(name):
    for suffix, option in COMPRESSION:
        if name.endswith(suffix):
            return option
    raise FilesError("source %s: not a tar archive this engine unpacks (%s)" % (
        name, ", ".join(suffix for suffix, _ in COMPRESSION)))


def unpack_into(container, sources, source_cache, unpack_dir):
    """Stream each source archive into tar -x in the container; return the top directory of each."""
    roots = []
    for source in sources:
        name = str(source.get("file", ""))
        if not name or "/" in name:
            raise FilesError("source %r: file must be a name in the source cache" % name)
        option = tar_option(name)
        argv = ["exec", "-i", container, "tar", "-x", "-v", "-f", "-", "-C", unpack_dir] + ([option] if option else [])
        path = os.path.join(source_cache, name)
        try:
            listed = stream_into(container, path, str(source.get("sha256", "")), argv=argv)
        except DigestMismatch as exc:
            # as the source fetch does: a bad file leaves the cache, the next build fetches it again
            try:
                os.remove(path)
                what = "removed from the cache"
            except OSError:
                what = "left in place (the cache is not writable)"
            raise FilesError("source %s changed in the cache since the build started: %s; %s" % (name, exc, what))
        except DockerError as exc:
            raise FilesError("source %s: %s" % (name, exc))
        roots.append(archive_root(listed.splitlines()))
    return roots


def main():
    module = AnsibleModule(
        argument_spec=dict(
            container=dict(type="str", required=True),
            files=dict(type="list", elements="dict", default=[]),
            sources=dict(type="list", elements="dict", default=[]),
            source_cache=dict(type="path"),
            unpack_dir=dict(type="str"),
        ),
    )
    params = module.params
    if params["sources"] and not (params["source_cache"] and params["unpack_dir"]):
        module.fail_json(msg="sources need source_cache and unpack_dir")
    try:
        roots = unpack_into(params["container"], params["sources"], params["source_cache"], params["unpack_dir"])
        copied = copy_into(params["container"], params["files"]) if params["files"] else []
    except FilesError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=bool(copied or roots), copied=copied, roots=roots)


if __name__ == "__main__":
    main()
