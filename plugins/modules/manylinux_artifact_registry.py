#!/usr/bin/python
"""The artifact cache in an OCI registry: check its name, pull the missing artifacts, push a stored one, record
what a build uses, prune what the last builds did not use."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_artifact_registry
short_description: Pull component artifacts from an OCI registry into the artifact cache, push one there, or prune it
description:
  - Runs on the controller. Each artifact is an OCI artifact of O(registry) tagged C(<name>-<key prefix>) (docs/DESIGN.md,
    "The artifact cache"), its tar files as layers and its artifact.json as the config blob.
  - C(state=checked) only checks O(registry) (host[:port]/repository) and O(keep) and fails naming the rule broken.
  - C(state=pulled) fetches the artifact of each of O(components) into O(cache_dir) (a partial directory renamed into
    place), every blob checked by size and digest. A registry that is down or refuses the credentials, a missing tag
    or a damaged blob never fails the task; C(msg) says so in one line each, and those components build here.
  - C(state=pushed) pushes the artifact directory O(artifact) unless its tag is there; a failure is C(msg), not an error.
  - C(state=recorded) pushes the record of a build (O(policy), O(arch), O(build_id)), an OCI artifact tagged
    C(<policy>_<arch>-build-<UTC time>-<8 hex>) whose one layer names the tags of O(components) and O(tags) (the bases)
    with the time; a failure is C(msg), not an error.
  - C(state=pruned) keeps the tags the newest O(keep) records of each policy and arch name (and those records) and
    lists the other tags of the cache's shapes (artifacts, bases, records), or with O(delete) deletes their manifests
    by digest. Tags of other shapes are never touched. A registry that is down, refuses the credentials or deletes,
    or a record that cannot be read is one line of C(msg), not an error; with no record at all nothing is deleted.
  - Credentials, never logged nor returned, are O(username) and O(password) when O(registry) is at
    O(login_registry), else those C(docker login) stored for it in the Docker client configuration O(docker_config).
options:
  state:
    description: What to do.
    type: str
    choices: [checked, pulled, pushed, recorded, pruned]
    required: true
  registry:
    description: The repository of the artifacts, C(host[:port]/path), e.g. C(ghcr.io/owner/manylinux-shared-cache).
    type: str
    required: true
  components:
    description: For C(pulled), the components to fetch, for C(recorded), those the build uses, each a mapping with
      C(name) and C(key).
    type: list
    elements: dict
    default: []
  cache_dir:
    description: For C(pulled), the artifact cache.
    type: path
  artifact:
    description: For C(pushed), the artifact directory to push.
    type: path
  policy:
    description: For C(recorded), the build's policy.
    type: str
  arch:
    description: For C(recorded), the build's arch.
    type: str
  build_id:
    description: For C(recorded), the build's id.
    type: str
  tags:
    description: For C(recorded), other tags of the repository the build uses (its runtime and build bases).
    type: list
    elements: str
    default: []
  keep:
    description: For C(pruned), how many of the newest builds of each policy and arch keep what they used.
    type: int
    default: 3
  delete:
    description: For C(pruned), delete the unused tags' manifests (false, only list them).
    type: bool
    default: false
  username:
    description: User at O(login_registry) (empty, the Docker client configuration's or anonymous).
    type: str
    default: ""
  password:
    description: Password or token of O(username).
    type: str
    default: ""
  login_registry:
    description: The registry host O(username) and O(password) belong to.
    type: str
    default: ""
  docker_config:
    description: Docker client configuration directory (empty, C(DOCKER_CONFIG) or C(~/.docker)).
    type: path
    default: ""
  insecure:
    description: Speak plain HTTP (a registry on 127.0.0.1).
    type: bool
    default: false
  timeout:
    description: Seconds to wait for each answer of the registry.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Pull what the artifact cache lacks
  manylinux_shared.factory.manylinux_artifact_registry:
    state: pulled
    registry: ghcr.io/owner/manylinux-shared-cache
    cache_dir: "{{ build_artifact_cache }}"
    components:
      - name: openssl
        key: 89abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567
  register: pulled

- name: Push a stored artifact
  manylinux_shared.factory.manylinux_artifact_registry:
    state: pushed
    registry: 127.0.0.1:5000/cache
    artifact: "{{ build_artifact_cache }}/openssl-89abcdef0123456789ab"
    insecure: true

- name: Record what this build uses
  manylinux_shared.factory.manylinux_artifact_registry:
    state: recorded
    registry: ghcr.io/owner/manylinux-shared-cache
    policy: manylinux_2_31
    arch: x86_64
    build_id: "{{ build_id }}"
    components: "{{ plan.components }}"
    tags: [manylinux_2_31_x86_64-runtime-base-0123456789abcdef, manylinux_2_31_x86_64-build-base-fedcba9876543210]

- name: Delete what the last build of each policy and arch did not use
  manylinux_shared.factory.manylinux_artifact_registry:
    state: pruned
    registry: ghcr.io/owner/manylinux-shared-cache
    keep: 1
    delete: true
"""

RETURN = r"""
pulled:
  description: For C(pulled), the names of the components fetched into the cache.
  type: list
  elements: str
  returned: when state is pulled
pushed:
  description: For C(pushed), whether the artifact was uploaded (false when its tag was there or the push failed).
  type: bool
  returned: when state is pushed
usable:
  description: For C(pulled), false when the registry is down, refuses the credentials or answers an error (the
    build then pushes nothing to it).
  type: bool
  returned: when state is pulled
record:
  description: For C(recorded), the tag of the build's record (empty when it could not be pushed).
  type: str
  returned: when state is recorded
kept:
  description: For C(pruned), the tags kept (used by the newest O(keep) builds of each policy and arch, and their records).
  type: list
  elements: str
  returned: when state is pruned
unused:
  description: For C(pruned), the other tags of the cache's shapes.
  type: list
  elements: str
  returned: when state is pruned
deleted:
  description: For C(pruned), the unused tags whose manifests were deleted.
  type: list
  elements: str
  returned: when state is pruned
msg:
  description: What could not be done, one line each (empty when everything was); for C(pruned), first what was
    kept, listed or deleted.
  type: list
  elements: str
  returned: success
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_artifact_registry import (
    ArtifactRegistryError,
    client_for,
    kept_and_unused,
    prune,
    prune_report,
    pull_missing,
    push,
    record,
    split_registry,
    tag_of,
)
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_registry import credentials_for


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["checked", "pulled", "pushed", "recorded", "pruned"]),
            registry=dict(type="str", required=True),
            components=dict(type="list", elements="dict", default=[]),
            cache_dir=dict(type="path"), artifact=dict(type="path"),
            policy=dict(type="str"), arch=dict(type="str"), build_id=dict(type="str"),
            tags=dict(type="list", elements="str", default=[]),
            keep=dict(type="int", default=3), delete=dict(type="bool", default=False),
            username=dict(type="str", default=""), password=dict(type="str", default="", no_log=True),
            login_registry=dict(type="str", default=""), docker_config=dict(type="path", default=""),
            insecure=dict(type="bool", default=False), timeout=dict(type="int", default=60)),
        required_if=[("state", "pulled", ["cache_dir"]), ("state", "pushed", ["artifact"]),
                     ("state", "recorded", ["policy", "arch", "build_id"])])
    p = module.params
    try:
        host, _ = split_registry(p["registry"])
        kept_and_unused([], [], p["keep"])
        used = sorted(set(p["tags"]) | {tag_of(c["name"], c["key"]) for c in p["components"]})
    except (ValueError, KeyError, TypeError) as exc:
        module.fail_json(msg="%s%s" % ("components need a name and a key: " if isinstance(exc, KeyError) else "", exc))
    if p["state"] == "checked":
        module.exit_json(changed=False, msg=[])
    try:
        username, password = credentials_for(host, p["username"], p["password"], p["login_registry"],
                                             p["docker_config"])
    except RuntimeError as exc:
        module.exit_json(changed=False, pulled=[], pushed=False, usable=False,
                         msg=["the artifact registry %s is not used: %s" % (p["registry"], exc)])
    client = client_for(p["registry"], username, password, p["insecure"], p["timeout"])
    if p["state"] == "recorded":
        try:
            tag = record(client, p["policy"], p["arch"], p["build_id"], used)
        except (ArtifactRegistryError, RuntimeError, ValueError) as exc:
            module.exit_json(changed=False, record="", msg=["the build's record was not pushed to the artifact "
                                                            "registry %s: %s" % (p["registry"], exc)])
        module.exit_json(changed=True, record=tag, msg=[])
    if p["state"] == "pruned":
        try:
            found = prune(client, p["keep"], p["delete"])
        except ArtifactRegistryError as exc:
            module.exit_json(changed=False, kept=[], unused=[], deleted=[], msg=[
                "the artifact registry %s is %s (%s): it is not pruned" % (
                    p["registry"], "unreachable" if exc.reason == "down" else "refusing the credentials", exc)])
        except RuntimeError as exc:
            module.exit_json(changed=False, kept=[], unused=[], deleted=[],
                             msg=["the artifact registry %s answered %s: it is not pruned" % (p["registry"], exc)])
        module.exit_json(changed=bool(found["deleted"]), kept=found["kept"], unused=found["unused"],
                         deleted=found["deleted"], msg=prune_report(p["registry"], found, p["keep"], p["delete"]))
    if p["state"] == "pulled":
        pulled, lines, usable = pull_missing(client, p["cache_dir"],
                                             [(c["name"], c["key"]) for c in p["components"]])
        module.exit_json(changed=bool(pulled), pulled=pulled, usable=usable, msg=lines)
    name = os.path.basename(p["artifact"])
    try:
        pushed = push(client, p["artifact"])
    except (ArtifactRegistryError, RuntimeError, OSError, ValueError, KeyError) as exc:
        module.exit_json(changed=False, pushed=False,
                         msg=["%s was not pushed to the artifact registry %s: %s" % (name, p["registry"], exc)])
    module.exit_json(changed=pushed, pushed=pushed, msg=[])


if __name__ == "__main__":
    main()
