"""Filters: the engine's images found by their labels: the cache lookups, and what playbooks/prune.yml removes."""


def manylinux_labeled(images, label):
    """{value of `label`: image Id} of the images (docker_image_info's) that carry the label."""
    found = {}
    for image in images or []:
        labels = (image.get("Config") or {}).get("Labels") or image.get("Labels") or {}
        if labels.get(label):
            found.setdefault(labels[label], image["Id"])
    return found


def manylinux_cache_prune(images, label_prefix, repository, in_use=(), keep_kinds=("runtime-base", "build-base")):
    """What playbooks/prune.yml removes and keeps, from the engine's image summaries.

    Only the cache images of `repository` (build_cache_repository) are removed: those tagged there, and the
    untagged ones whose nearest tagged cache ancestor is there (a layer is made on the layer below and the bases);
    an untagged cache image of no known repository is left alone (another build's or a test's may be one).
    Cache images (label `<prefix>.cache-key` set) are in use when a tagged final image
    (label `<prefix>.policy` set, cache key empty) is built on them, when a container uses
    them or an image built on them (`in_use`: image ids; a build running now goes on from
    them), and, for the bases (label `<prefix>.cache-kind` in keep_kinds), when they are the
    newest of their kind, repository and platform: the next build starts from them. Returns `remove`, the
    tags in `repository` of the cache images not in use (ids of untagged ones), and `artifacts`, the artifact directories
    (label `<prefix>.cache-artifact`) of the layers in use."""
    by_id = {image["Id"]: image for image in images or []}
    cache_label, kind_label = label_prefix + ".cache-key", label_prefix + ".cache-kind"
    artifact_label, final_label = label_prefix + ".cache-artifact", label_prefix + ".policy"

    def labels(image):
        return image.get("Labels") or {}

    def tagged(image):
        return [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]

    def in_repository(image):
        return [tag for tag in tagged(image) if tag.rpartition(":")[0] == repository]

    def ours(image):
        """Its tags in `repository` (an image tagged elsewhere too only loses those); an untagged one's id when its
        nearest tagged cache ancestor is tagged there."""
        if tagged(image):
            return in_repository(image)
        ancestor, seen = by_id.get(image.get("ParentId")), set()
        while ancestor is not None and ancestor["Id"] not in seen and labels(ancestor).get(cache_label):
            if tagged(ancestor):
                return [image["Id"]] if in_repository(ancestor) else []
            seen.add(ancestor["Id"])
            ancestor = by_id.get(ancestor.get("ParentId"))
        return []

    used = set()

    def keep_ancestors(image_id):
        while image_id and image_id in by_id and image_id not in used:
            used.add(image_id)
            image_id = by_id[image_id].get("ParentId")

    for image in by_id.values():
        if not labels(image).get(cache_label) and final_label in labels(image) and tagged(image):
            keep_ancestors(image.get("ParentId"))
    for image_id in in_use or ():
        keep_ancestors(image_id)
    newest = {}
    for image in by_id.values():
        kind = labels(image).get(kind_label)
        if kind in keep_kinds and tagged(image):
            where, _, tag = tagged(image)[0].rpartition(":")
            slot = (kind, where, tag.rsplit("-" + kind, 1)[0])
            if slot not in newest or image.get("Created", 0) > by_id[newest[slot]].get("Created", 0):
                newest[slot] = image["Id"]
    for image_id in newest.values():
        keep_ancestors(image_id)
    remove = sorted(tag for image in by_id.values() if labels(image).get(cache_label) and image["Id"] not in used
                    for tag in ours(image))
    artifacts = sorted(set(labels(by_id[i]).get(artifact_label) for i in used if labels(by_id[i]).get(artifact_label)))
    return {"remove": remove, "artifacts": artifacts}


class FilterModule(object):
    def filters(self):
        return {
            "manylinux_labeled": manylinux_labeled,
            "manylinux_cache_prune": manylinux_cache_prune,
        }
