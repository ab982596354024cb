#!/usr/bin/python
"""Give a pushed multi-arch manifest list annotations, as an OCI image index."""

DOCUMENTATION = r"""
module: manylinux_registry_index
short_description: Make a pushed multi-arch list an OCI image index with annotations
description:
  - Reads the manifest list or image index at O(tag) of O(repository) (as
    C(docker manifest push) leaves it, a Docker manifest list, which has no
    annotations) and puts back, at the same tag, the OCI image index of the
    same manifests with O(annotations) (C(org.opencontainers.image.*), as
    GHCR shows them for a multi-arch package).
  - The index is written canonically, so the same manifests and annotations
    give the same digest and a second run changes nothing.
options:
  tag:
    description: Tag of the list.
    type: str
    required: true
  annotations:
    description: Annotations of the index (strings).
    type: dict
    required: true
extends_documentation_fragment:
  - manylinux_shared.factory.manylinux_registry
"""

EXAMPLES = r"""
- name: Annotate the multi-arch list
  manylinux_shared.factory.manylinux_registry_index:
    registry: ghcr.io
    repository: owner/manylinux_2_31-shared
    tag: latest
    annotations:
      org.opencontainers.image.source: https://github.com/owner/manylinux-shared
"""

RETURN = r"""
digest:
  description: Digest of the index now at the tag.
  type: str
  returned: success
"""

import json
import urllib.error

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_registry import (
    OCI_INDEX, REGISTRY_ARGUMENT_SPEC, client_from, digest_of)

LISTS = (OCI_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json")


def oci_index(listed, annotations):
    """The canonical OCI index (bytes) of a list's manifests, with annotations."""
    if listed.get("mediaType") not in LISTS or not listed.get("manifests"):
        raise ValueError("not a manifest list or index (mediaType %r)" % listed.get("mediaType"))
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed["manifests"],
                       "annotations": {str(k): str(v) for k, v in annotations.items()}},
                      sort_keys=True, separators=(",", ":")).encode()


def annotate(client, tag, annotations, check_mode=False):
    """(changed, digest) of the list at `tag` made an annotated OCI index."""
    current = client.descriptor(tag)
    listed = client.manifest(tag, accept=", ".join(LISTS)) if current else None
    if listed is None:
        raise RuntimeError("the registry has no list %s:%s" % (client.repository, tag))
    index = oci_index(listed, annotations)
    digest = digest_of(index)
    if current["digest"] == digest:
        return False, digest
    if not check_mode:
        client.put_manifest(tag, index, OCI_INDEX)
    return True, digest


def main():
    module = AnsibleModule(
        argument_spec=dict(
            REGISTRY_ARGUMENT_SPEC,
            tag=dict(type="str", required=True), annotations=dict(type="dict", required=True)),
        supports_check_mode=True)
    p = module.params
    client = client_from(p)
    try:
        changed, digest = annotate(client, p["tag"], p["annotations"], module.check_mode)
    except (urllib.error.URLError, OSError, ValueError, RuntimeError, KeyError) as error:
        module.fail_json(msg="could not annotate %s/%s:%s: %s" % (p["registry"], p["repository"], p["tag"], error))
    module.exit_json(changed=changed, digest=digest)


if __name__ == "__main__":
    main()
