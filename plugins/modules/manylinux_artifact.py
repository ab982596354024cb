#!/usr/bin/python
"""Move component artifacts between the controller's artifact cache and containers."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_artifact
short_description: Import cached component artifacts into a container, or store a container's artifact
description:
  - Runs on the controller, with the docker CLI.
  - C(state=imported) extracts the artifacts O(artifacts) (cache directories) at C(/) of O(container),
    their private part too (O(private)), each tar file checked against the size and sha256 its
    artifact recorded while it streams. A damaged artifact is removed from the cache and the task
    fails naming it, so that the next build makes it anew.
  - C(state=pruned) removes from O(cache_dir) every artifact whose directory name is not in O(keep),
    unless a build in O(keep_builds) made it (a build that is running now), and the partial
    directories of interrupted stores.
  - C(state=stored) copies the tar files O(files) out of O(container) into the cache directory
    O(artifact) with the metadata O(meta), atomically (a partial directory renamed into place when
    complete), so a failed or interrupted store leaves no artifact. When another build stored the same
    key first, its artifact is kept and nothing changes.
options:
  state:
    description: What to do.
    type: str
    choices: [imported, stored, pruned]
    required: true
  container:
    description: For C(imported) and C(stored), name or id of the container.
    type: str
  cache_dir:
    description: For C(pruned), the artifact cache.
    type: path
  keep:
    description: For C(pruned), names of the artifact directories to keep.
    type: list
    elements: str
    default: []
  keep_builds:
    description: For C(pruned), build ids whose artifacts are kept.
    type: list
    elements: str
    default: []
  dry_run:
    description: For C(pruned), only list what would be removed.
    type: bool
    default: false
  artifacts:
    description: For C(imported), artifact directories, in the order to extract them.
    type: list
    elements: path
    default: []
  private:
    description: For C(imported), also extract the private parts (for a component's build container).
    type: bool
    default: true
  artifact:
    description: For C(stored), the artifact directory to create.
    type: path
  files:
    description: For C(stored), tar file name (C(image.tar), C(private.tar)) to its path in the container.
    type: dict
    default: {}
  meta:
    description: For C(stored), the artifact's metadata (at least C(name) and C(key)).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Import the artifacts of a component's needs into its build container
  manylinux_shared.factory.manylinux_artifact:
    state: imported
    container: manylinux-component-{{ build_id }}-openssl
    artifacts:
      - "{{ build_artifact_cache }}/zlib-0123456789ab"
    private: true

- name: Store what the component packed as its artifact
  manylinux_shared.factory.manylinux_artifact:
    state: stored
    container: manylinux-component-{{ build_id }}-openssl
    artifact: "{{ build_artifact_cache }}/openssl-89abcdef0123"
    files:
      image.tar: /tmp/pack/image.tar
      private.tar: /tmp/pack/private.tar
    meta:
      name: openssl
      key: 89abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567

- name: List the artifacts nothing keeps (playbooks/prune.yml)
  manylinux_shared.factory.manylinux_artifact:
    state: pruned
    cache_dir: "{{ build_artifact_cache }}"
    keep: "{{ prune_keep }}"
    dry_run: true
  register: prune_artifacts
"""

RETURN = r"""
imported:
  description: For C(imported), the names of the imported components.
  type: list
  returned: when state is imported
meta:
  description: For C(stored), the stored metadata, with the size and sha256 of each file.
  type: dict
  returned: when state is stored
removed:
  description: For C(pruned), the artifact directories removed (or, with O(dry_run), to remove).
  type: list
  returned: when state is pruned
"""

from ansible.module_utils.basic import AnsibleModule
import os
import shutil

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_docker import DockerError, import_artifact, read_meta, store_artifact


def prune(cache_dir, keep, keep_builds, dry_run=False):
    try:
        names = sorted(os.listdir(cache_dir))
    except OSError:
        return []
    removed = []
    for name in names:
        path = os.path.join(cache_dir, name)
        if not os.path.isdir(path) or name in keep:
            continue
        meta = read_meta(path)
        if meta and meta.get("build_id") in keep_builds:
            continue
        removed.append(name)
        if not dry_run:
            shutil.rmtree(path, ignore_errors=True)
    return removed


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["imported", "stored", "pruned"]),
            container=dict(type="str"),
            cache_dir=dict(type="path"),
            keep=dict(type="list", elements="str", default=[]),
            keep_builds=dict(type="list", elements="str", default=[]),
            dry_run=dict(type="bool", default=False),
            artifacts=dict(type="list", elements="path", default=[]),
            private=dict(type="bool", default=True),
            artifact=dict(type="path"),
            files=dict(type="dict", default={}),
            meta=dict(type="dict", default={}),
        ),
        required_if=[("state", "stored", ["container", "artifact", "files", "meta"]),
                     ("state", "imported", ["container"]), ("state", "pruned", ["cache_dir"])],
    )
    p = module.params
    try:
        if p["state"] == "pruned":
            removed = prune(p["cache_dir"], p["keep"], p["keep_builds"], p["dry_run"])
            module.exit_json(changed=bool(removed) and not p["dry_run"], removed=removed)
        if p["state"] == "imported":
            parts = ("image.tar", "private.tar") if p["private"] else ("image.tar",)
            names = [import_artifact(p["container"], directory, parts).get("name") for directory in p["artifacts"]]
            module.exit_json(changed=bool(names), imported=names)
        stored, meta = store_artifact(p["container"], p["artifact"], p["files"], p["meta"])
        module.exit_json(changed=stored, meta=meta)
    except (DockerError, OSError) as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
