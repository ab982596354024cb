#!/usr/bin/python
"""Turn a root file system directory into a Docker image with the right platform."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_rootfs_image
short_description: Load a root file system into the Docker engine as a one-layer image of a given platform
description:
  - C(docker import) records the engine's own architecture, so a foreign-architecture root
    file system (made by C(debootstrap --arch=armhf)) would claim to be amd64.
  - This module writes a docker-archive (C(docker save) format) whose image config names the
    real O(platform), and loads it with C(docker load). C(docker image inspect) then shows the
    real architecture and C(docker run) needs no C(--platform).
options:
  rootfs:
    description: Root file system directory.
    type: path
    required: true
  name:
    description: Image reference to tag, C(repository:tag).
    type: str
    required: true
  platform:
    description: Docker platform, C(os/arch[/variant]), e.g. C(linux/arm/v7).
    type: str
    required: true
  cmd:
    description: Default command of the image.
    type: list
    elements: str
    default: [/bin/bash]
  env:
    description: Environment of the image, C(NAME=value) strings.
    type: list
    elements: str
    default: [PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin]
  work_dir:
    description: Scratch directory for the archive (defaults to the system's).
    type: path
"""

EXAMPLES = r"""
- name: Load a debootstrapped tree as a base image
  manylinux_shared.factory.manylinux_rootfs_image:
    rootfs: /var/tmp/manylinux_2_31-amd64
    name: manylinux-shared/base:manylinux_2_31-amd64
    platform: linux/amd64
    cmd:
      - /bin/bash
"""

RETURN = r"""
image_id:
  description: Image id (sha256 of its config).
  type: str
  returned: success
"""

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_files import sha256_of


def parse_platform(platform):
    parts = platform.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError("platform %r is not os/arch[/variant]" % platform)
    result = {"os": parts[0], "architecture": parts[1]}
    if len(parts) == 3:
        result["variant"] = parts[2]
    return result


def image_config(platform, layer_digest, cmd, env, created):
    config = parse_platform(platform)
    config.update({
        "created": created,
        "config": {"Cmd": list(cmd), "Env": list(env)},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer_digest]},
        "history": [{"created": created, "created_by": "debootstrap root file system (manylinux_rootfs_image)"}],
    })
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def write_archive(layer_tar, archive, name, platform, cmd, env, created):
    """Write a docker-archive holding `layer_tar` as the only layer; return the image id."""
    layer_digest = sha256_of(layer_tar)
    config = image_config(platform, layer_digest, cmd, env, created)
    config_digest = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": config_digest + ".json", "RepoTags": [name],
                            "Layers": [layer_digest + "/layer.tar"]}]).encode()
    with tarfile.open(archive, "w") as out:
        out.add(layer_tar, arcname=layer_digest + "/layer.tar")
        for member, data in ((config_digest + ".json", config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            out.addfile(info, fileobj=_BytesReader(data))
    return "sha256:" + config_digest


class _BytesReader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def read(self, size=-1):
        if size < 0:
            size = len(self.data) - self.pos
        chunk = self.data[self.pos:self.pos + size]
        self.pos += len(chunk)
        return chunk


def main():
    module = AnsibleModule(
        argument_spec=dict(
            rootfs=dict(type="path", required=True),
            name=dict(type="str", required=True),
            platform=dict(type="str", required=True),
            cmd=dict(type="list", elements="str", default=["/bin/bash"]),
            env=dict(type="list", elements="str",
                     default=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]),
            work_dir=dict(type="path"),
        ),
        supports_check_mode=False,
    )
    p = module.params
    try:
        parse_platform(p["platform"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if not os.path.isdir(p["rootfs"]):
        module.fail_json(msg="no root file system at %s" % p["rootfs"])
    scratch = tempfile.mkdtemp(prefix="manylinux-rootfs-", dir=p["work_dir"])
    try:
        layer = os.path.join(scratch, "layer.tar")
        # GNU tar keeps owners, modes, links and device nodes as docker import would.
        rc, _, err = module.run_command(["tar", "--numeric-owner", "-C", p["rootfs"], "-cf", layer, "."])
        if rc != 0:
            module.fail_json(msg="tar of %s failed: %s" % (p["rootfs"], err))
        archive = os.path.join(scratch, "image.tar")
        created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        image_id = write_archive(layer, archive, p["name"], p["platform"], p["cmd"], p["env"], created)
        rc, out, err = module.run_command(["docker", "load", "-i", archive])
        if rc != 0:
            module.fail_json(msg="docker load failed: %s%s" % (out, err))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    module.exit_json(changed=True, image_id=image_id, stdout=out)


if __name__ == "__main__":
    main()
