#!/usr/bin/python
"""Attach a file to an image in a registry as an OCI artifact that refers to it (an SBOM, say)."""

DOCUMENTATION = r"""
module: manylinux_registry_attach
short_description: Attach a file to a pushed image as an OCI artifact whose subject is the image
description:
  - Pushes O(file) as the one layer of an OCI artifact manifest (C(artifactType)
    O(artifact_type), an empty config) whose C(subject) is the manifest O(subject)
    of O(repository), as C(oras attach) and C(cosign attach sbom) do, so that
    C(GET /v2/<repository>/referrers/<subject>) lists it on a registry with the
    OCI 1.1 referrers API.
  - A registry without that API (its answer to the manifest has no
    C(OCI-Subject) header, as Docker's registry 2.8 answers) gets the referrers
    tag schema of the OCI distribution spec instead, the image index at the tag
    C(sha256-<hex of the subject>), to which the artifact is added once.
  - The artifact manifest is the same bytes for the same file and subject, so a
    second run changes nothing.
options:
  subject:
    description: Digest or tag of the image's manifest.
    type: str
    required: true
  file:
    description: The file to attach.
    type: path
    required: true
  artifact_type:
    description: Media type of the artifact and of its layer.
    type: str
    default: application/vnd.cyclonedx+json
  annotations:
    description: Annotations of the artifact manifest (its title is the file's name).
    type: dict
    default: {}
extends_documentation_fragment:
  - manylinux_shared.factory.manylinux_registry
"""

EXAMPLES = r"""
- name: Attach the image's SBOM
  manylinux_shared.factory.manylinux_registry_attach:
    registry: ghcr.io
    repository: owner/manylinux_2_31_x86_64-shared
    subject: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    file: /tmp/sbom.cdx.json
    username: "{{ lookup('ansible.builtin.env', 'MANYLINUX_REGISTRY_USER') }}"
    password: "{{ lookup('ansible.builtin.env', 'MANYLINUX_REGISTRY_PASSWORD') }}"
"""

RETURN = r"""
digest:
  description: Digest of the artifact manifest.
  type: str
  returned: success
subject:
  description: Digest of the image's manifest the artifact refers to.
  type: str
  returned: success
referrers:
  description: How the registry finds it, C(api) (the referrers API) or C(tag:<tag>) (the tag schema).
  type: str
  returned: success
"""

import json
import os
import urllib.error

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_registry import (
    OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, REGISTRY_ARGUMENT_SPEC, client_from, digest_of)

TITLE = "org.opencontainers.image.title"


def _canonical(document):
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def artifact_manifest(subject, content, name, artifact_type, annotations):
    """The artifact manifest (bytes) of a file for a subject descriptor."""
    return _canonical({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, "digest": digest_of(b"{}"), "size": 2, "data": "e30="},
        "layers": [{"mediaType": artifact_type, "digest": digest_of(content), "size": len(content),
                    "annotations": {TITLE: name}}],
        "subject": subject, "annotations": dict(annotations, **{TITLE: name})})


def attach(client, subject_ref, content, name, artifact_type, annotations, check_mode=False):
    """Push the artifact for the subject; (changed, artifact digest, subject digest, referrers)."""
    subject = client.descriptor(subject_ref)
    if subject is None:
        raise RuntimeError("the registry has no manifest %s in %s" % (subject_ref, client.repository))
    manifest = artifact_manifest(subject, content, name, artifact_type, annotations)
    digest = digest_of(manifest)
    tag = subject["digest"].replace(":", "-")
    index = client.manifest(tag, accept=OCI_INDEX)
    listed = [m["digest"] for m in (index or {}).get("manifests", [])]
    exists = client.descriptor(digest) is not None
    if exists and (digest in listed or index is None and _has_referrers_api(client, subject["digest"], digest)):
        return False, digest, subject["digest"], "tag:" + tag if digest in listed else "api"
    if check_mode:
        return True, digest, subject["digest"], ""
    client.put_blob(b"{}")
    client.put_blob(content)
    answer = client.put_manifest(digest, manifest, OCI_MANIFEST)
    if answer.headers.get("OCI-Subject"):
        return True, digest, subject["digest"], "api"
    # the referrers tag schema: an index of the subject's referrers at sha256-<hex>
    index = index or {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    if digest not in listed:
        index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
                                   "artifactType": artifact_type, "annotations": {TITLE: name}})
        client.put_manifest(tag, _canonical(index), OCI_INDEX)
    return True, digest, subject["digest"], "tag:" + tag


def _has_referrers_api(client, subject_digest, digest):
    response = client.request("GET", "referrers/" + subject_digest, headers={"Accept": OCI_INDEX})
    return response.status == 200 and digest in [m.get("digest") for m in response.json().get("manifests", [])]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            REGISTRY_ARGUMENT_SPEC,
            subject=dict(type="str", required=True), file=dict(type="path", required=True),
            artifact_type=dict(type="str", default="application/vnd.cyclonedx+json"),
            annotations=dict(type="dict", default={})),
        supports_check_mode=True)
    p = module.params
    if not os.path.isfile(p["file"]):
        module.fail_json(msg="file=%s does not exist" % p["file"])
    with open(p["file"], "rb") as handle:
        content = handle.read()
    client = client_from(p)
    try:
        changed, digest, subject, referrers = attach(client, p["subject"], content, os.path.basename(p["file"]),
                                                     p["artifact_type"], p["annotations"], module.check_mode)
    except (urllib.error.URLError, OSError, ValueError, RuntimeError, KeyError) as error:
        module.fail_json(msg="could not attach %s to %s/%s@%s: %s"
                             % (p["file"], p["registry"], p["repository"], p["subject"], error))
    module.exit_json(changed=changed, digest=digest, subject=subject, referrers=referrers)


if __name__ == "__main__":
    main()
