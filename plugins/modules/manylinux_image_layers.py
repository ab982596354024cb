#!/usr/bin/python
"""Lay the components' artifacts on the runtime base, one image layer each, reusing cached layers."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_image_layers
short_description: Make the image's component layers on the runtime base
description:
  - Runs on the controller, with the docker CLI. Starting from O(base), each entry of O(layers)
    (in order) becomes one image layer holding its artifact's C(image.tar) (never its private
    part), committed as C(<repository>:<tag_prefix>-<name>-<layer key prefix>) with the label
    C(<label_prefix>.cache-key) set to its layer key.
  - A layer key chains the keys before it (the plan's C(layers)), so a layer whose image exists
    with that label is reused as it is, and only the layers from the first changed component on
    are made again.
  - A layer is made in a created, never started, container; the artifact is streamed in and
    checked against its sha256, the container committed and removed. Nothing is tagged for a
    layer whose artifact does not check out.
options:
  base:
    description: Id of the runtime base image.
    type: str
    required: true
  layers:
    description: The plan's layers (name, layer_key, artifact directory), in order.
    type: list
    elements: dict
    required: true
  repository:
    description: Repository of cache images.
    type: str
    required: true
  tag_prefix:
    description: Start of the layer tags, e.g. C(manylinux_2_31_x86_64-layer).
    type: str
    required: true
  label_prefix:
    description: Label namespace.
    type: str
    required: true
  platform:
    description: Docker platform of the images.
    type: str
    required: true
  use_cache:
    description: False makes every layer anew.
    type: bool
    default: true
  container_labels:
    description: Labels of the temporary containers (the build's id), so that a cleanup finds them.
    type: dict
    default: {}
  reset_labels:
    description: Labels each commit empties (docker keeps a container's labels, and a layer belongs to no run).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Lay the components' layers on the runtime base
  manylinux_shared.factory.manylinux_image_layers:
    base: "{{ build_bases.runtime.id }}"
    layers: "{{ component_build_plan.layers }}"
    repository: "{{ build_cache_repository }}"
    tag_prefix: "{{ build_target.platform_tag }}-layer"
    label_prefix: "{{ build_label_prefix }}"
    platform: "{{ build_target.platform }}"
    container_labels: "{{ build_container_labels }}"
    reset_labels: "{{ build_cache_labels }}"
  register: layers
"""

RETURN = r"""
image:
  description: Id of the last layer (the image the roles' main work starts from).
  type: str
  returned: always
layers:
  description: Per layer, C(name), C(image), C(cached) and C(seconds).
  type: list
  returned: always
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_docker import DockerError, docker, import_artifact


def cached_layer(tag, key, label):
    try:
        out = docker("image", "inspect", "--format", "{{.Id}} {{json .Config.Labels}}", tag)
    except DockerError:
        return None
    image, _, labels = out.strip().partition(" ")
    if (json.loads(labels or "null") or {}).get(label) == key:
        return image
    return None


def make_layer(parent, layer, tag, label_prefix, platform, container_labels, reset_labels=()):
    args = ["create", "--platform", platform, "--entrypoint", "/bin/true"]
    for key, value in sorted(container_labels.items()):
        args += ["--label", "%s=%s" % (key, value)]
    container = docker(*args, parent).strip()
    try:
        import_artifact(container, layer["artifact"], parts=("image.tar",))
        resets = [arg for label in reset_labels for arg in ("--change", "LABEL %s=" % label)]
        return docker("commit",
                      "--change", "LABEL %s.cache-key=%s" % (label_prefix, layer["layer_key"]),
                      "--change", "LABEL %s.cache-kind=layer" % label_prefix,
                      "--change", "LABEL %s.cache-component=%s" % (label_prefix, layer["name"]),
                      "--change", "LABEL %s.cache-artifact=%s" % (label_prefix, os.path.basename(layer["artifact"])),
                      *resets, container, tag).strip()
    finally:
        docker("rm", "-f", container, check=False)


def lay(base, layers, repository, tag_prefix, label_prefix, platform, use_cache=True, container_labels=None,
        reset_labels=()):
    previous, report, made = base, [], False
    label = "%s.cache-key" % label_prefix
    for layer in layers:
        start = time.monotonic()
        tag = "%s:%s-%s-%s" % (repository, tag_prefix, layer["name"], layer["layer_key"][:16])
        image = cached_layer(tag, layer["layer_key"], label) if use_cache and not made else None
        cached = image is not None
        if not cached:
            image = make_layer(previous, layer, tag, label_prefix, platform, container_labels or {}, reset_labels)
            made = True
        report.append({"name": layer["name"], "image": image, "cached": cached,
                       "seconds": round(time.monotonic() - start, 1)})
        previous = image
    return previous, report


def main():
    module = AnsibleModule(
        argument_spec=dict(
            base=dict(type="str", required=True),
            layers=dict(type="list", elements="dict", required=True),
            repository=dict(type="str", required=True),
            tag_prefix=dict(type="str", required=True),
            label_prefix=dict(type="str", required=True),
            platform=dict(type="str", required=True),
            use_cache=dict(type="bool", default=True),
            container_labels=dict(type="dict", default={}),
            reset_labels=dict(type="list", elements="str", default=[]),
        ),
    )
    p = module.params
    try:
        image, report = lay(p["base"], p["layers"], p["repository"], p["tag_prefix"], p["label_prefix"],
                            p["platform"], p["use_cache"], p["container_labels"],
                            p["reset_labels"])
    except (DockerError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=any(not r["cached"] for r in report), image=image, layers=report)


if __name__ == "__main__":
    main()
