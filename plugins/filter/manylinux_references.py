"""Filters: image references and digests: what a base is pulled by, the digest it came with, what a publish pushed."""

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_filters import AnsibleFilterError
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_image_ref import (
    ReferenceError as _ReferenceError,
    parse as _parse_reference,
)


def manylinux_pushed_digests(images, repository, tags, list_name="", list_pushes=()):
    """{reference: digest} of what a publish pushed: each image (docker's image info, whose RepoDigests hold one
    `<repo>@<digest>` per repository it was pushed to) under each tag, for the repositories under `repository`;
    and each manifest list `<list_name>:<tag>` whose push gave a digest (a result whose item is the tag and whose
    `digest`, or the last line of its `stdout`, is the digest)."""
    digests = {}
    for image in images or []:
        for entry in image.get("RepoDigests") or []:
            repo, _, digest = entry.partition("@")
            if repo.startswith(repository.rstrip("/") + "/") and digest:
                for tag in tags:
                    digests["%s:%s" % (repo, tag)] = digest
    for push in list_pushes or []:
        digest = [push["digest"]] if push.get("digest") else (push.get("stdout") or "").strip().splitlines()
        if push.get("item") and digest and digest[-1].startswith("sha256:"):
            digests["%s:%s" % (list_name, push["item"])] = digest[-1]
    return digests


def _reference(text, what):
    try:
        return _parse_reference(text)
    except _ReferenceError as exc:
        raise AnsibleFilterError("%s: %s" % (what, exc))


def manylinux_pull_reference(image):
    """What to pull for a base image: `name@digest` for a pinned `name:tag@digest` (community.docker's docker_image
    finds a pulled image by that, never by name:tag@digest), else the name as it is (an offline base)."""
    return _reference(image, "manylinux_pull_reference").pull


def manylinux_base_digest(image, base_image):
    """{digest, source} of a base image (docker's image info): `registry` and the digest it was pulled by (the
    pinned one, else the RepoDigest of the base's repository, else the first), or `local` and the image's own id
    (its config digest) for an image no registry gave (bootstrapped here); both empty without an image."""
    if not image:
        return {"digest": "", "source": ""}
    base = _reference(base_image, "manylinux_base_digest")
    pulled = []
    for entry in image.get("RepoDigests") or []:
        ref = _reference(entry, "manylinux_base_digest: RepoDigests")
        pulled.append((ref.canonical == base.canonical, ref.digest))
    digests = [d for same, d in pulled if same and d == base.digest] or [d for same, d in pulled if same] \
        or [d for _, d in pulled]
    if digests:
        return {"digest": digests[0], "source": "registry"}
    if not str(image.get("Id", "")).startswith("sha256:"):
        raise AnsibleFilterError("manylinux_base_digest: the image of %s has neither RepoDigests nor an Id" % base_image)
    return {"digest": image["Id"], "source": "local"}


class FilterModule(object):
    def filters(self):
        return {
            "manylinux_pushed_digests": manylinux_pushed_digests,
            "manylinux_pull_reference": manylinux_pull_reference,
            "manylinux_base_digest": manylinux_base_digest,
        }
