#!/usr/bin/python
"""A component's files (rendered on the controller, wheels) into its container in one tar stream."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_container_files
short_description: Copy a component's files into its container in one stream, each checked against its pin
description:
  - Runs on the controller. Writes every file of O(files) into one tar stream (owner root, the file's
    mode) that C(docker cp - CONTAINER:/) unpacks, so that a component with dozens of wheels costs one
    C(docker cp), not a copy task per file.
  - Each file is hashed as it is read; one whose sha256 is not the one the plan recorded (changed on
    the controller since the plan, which keys the component by it) fails the task naming the file,
    and nothing is copied.
  - The directories of the destinations must exist in the container (the engine makes them first).
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
    required: true
"""

EXAMPLES = r"""
- name: Copy the component's files
  manylinux_shared.factory.manylinux_container_files:
    container: manylinux-component-build-1-python-tools
    files: "{{ component_build_component.files }}"
"""

RETURN = r"""
copied:
  description: The destinations written, in order.
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
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_docker import DockerError, docker

CHUNK = 1 << 20


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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            container=dict(type="str", required=True),
            files=dict(type="list", elements="dict", required=True),
        ),
    )
    try:
        copied = copy_into(module.params["container"], module.params["files"]) if module.params["files"] else []
    except FilesError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=bool(copied), copied=copied)


if __name__ == "__main__":
    main()
