"""The artifact cache in an OCI registry: a component's artifact directory <-> an OCI artifact, and the push and
pull of one (docs/DESIGN.md, "The artifact cache").

An artifact `<cache>/<name>-<key prefix>/` is the manifest tagged the same (`tag_of`): `artifactType`
ARTIFACT_TYPE, artifact.json as its config blob (CONFIG_TYPE, the very bytes), each tar file a layer whose digest
is the sha256 artifact.json records for it (titled by its file name). A pull writes into a partial directory of
the cache, each blob checked by size and digest as it streams, artifact.json last, renamed into place.

Each build records what it uses (`record`): an artifact of RECORD_TYPE tagged
`<policy>_<arch>-build-<UTC time>-<8 hex of the build id's sha256>`, the empty config and one layer (RECORD_LAYER_TYPE)
naming the policy, arch, build id, time and the tags of the artifacts and bases the build uses. `prune` keeps what the
last N records of each policy and arch name (and those records) and lists or deletes the other tags of the
cache's shapes (`CACHE_TAG`); a tag of another shape is never touched.
"""

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import urllib.error

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_docker import place_artifact
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_image_ref import (
    ReferenceError,
    TAG,
    parse,
)
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_registry import (
    OCI_EMPTY,
    OCI_MANIFEST,
    Registry,
    digest_of,
)

ARTIFACT_TYPE = "application/vnd.manylinux-shared.component.v1"
CONFIG_TYPE = "application/vnd.manylinux-shared.component.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
TITLE = "org.opencontainers.image.title"
ANNOTATION = "io.github.manylinux-shared.component"
RECORD_TYPE = "application/vnd.manylinux-shared.build.v1"
RECORD_LAYER_TYPE = "application/vnd.manylinux-shared.build.v1+json"
KEY_PREFIX = 20
TAG_MAX = 128
# the tags the cache writes: a component's artifact (tag_of), a base (<policy>_<arch>-runtime-base-<16 hex>, as
# build_cache_repository tags it) and a build's record (record_tag)
RECORD_TAG = r".+-build-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}"
CACHE_TAG = re.compile(r".+-[0-9a-f]{%d}|.+-(runtime|build)-base-[0-9a-f]{16}|%s" % (KEY_PREFIX, RECORD_TAG))
RULE = "host[:port]/repository (lowercase path components, no tag or digest), e.g. ghcr.io/<owner>/manylinux-shared-cache"


class ArtifactRegistryError(Exception):
    """The registry cannot be used for this run (down, credentials refused): `reason` says which."""

    def __init__(self, reason, detail):
        Exception.__init__(self, "%s: %s" % (reason, detail))
        self.reason = reason


class DamagedError(Exception):
    pass


def split_registry(text):
    """(registry host, repository) of a build_artifact_registry value; ValueError naming the rule."""
    try:
        ref = parse(text)
    except ReferenceError as exc:
        raise ValueError("build_artifact_registry=%r is not %s (%s)" % (text, RULE, exc))
    if ref.tag or ref.digest or not text.startswith(ref.registry + "/"):
        raise ValueError("build_artifact_registry=%r is not %s" % (text, RULE))
    return ref.api_host, ref.repository


def tag_of(name, key):
    """The tag of a component's artifact: its cache directory's name, `<name>-<first 20 hex of the key>`; a name too
    long for a tag (128 characters) is cut, with 8 hex digits of its sha256 so that two long names differ."""
    tag = "%s-%s" % (name, key[:KEY_PREFIX])
    if len(tag) > TAG_MAX:
        keep = TAG_MAX - KEY_PREFIX - 10
        tag = "%s-%s-%s" % (name[:keep], hashlib.sha256(name.encode()).hexdigest()[:8], key[:KEY_PREFIX])
    if not re.fullmatch(TAG, tag):
        raise ValueError("component name %r gives no valid tag" % name)
    return tag


def _canonical(document):
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def manifest_of(config, meta):
    """The manifest (bytes) of an artifact whose artifact.json is `config` (bytes) and `meta` (parsed)."""
    layers = [{"mediaType": LAYER_TYPE, "digest": "sha256:" + info["sha256"], "size": info["size"],
               "annotations": {TITLE: info["file"]}} for _, info in sorted(meta["files"].items())]
    return _canonical({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": digest_of(config), "size": len(config)},
        "layers": layers,
        "annotations": {ANNOTATION + ".name": meta["name"], ANNOTATION + ".key": meta["key"],
                        ANNOTATION + ".version": str(meta.get("version", ""))}})


def _guarded(action):
    """Run `action`, turning an unreachable registry or refused credentials into ArtifactRegistryError."""
    try:
        return action()
    except urllib.error.URLError as exc:
        raise ArtifactRegistryError("down", str(getattr(exc, "reason", None) or exc))
    except (ConnectionError, TimeoutError) as exc:
        raise ArtifactRegistryError("down", str(exc))
    except RuntimeError as exc:
        if re.search(r"HTTP 40[13]\b", str(exc)):
            raise ArtifactRegistryError("refused", str(exc))
        raise


def push(client, directory):
    """Push the artifact in `directory` unless its tag is there; whether it was pushed."""
    with open(os.path.join(directory, "artifact.json"), "rb") as handle:
        config = handle.read()
    meta = json.loads(config.decode())
    tag = tag_of(meta["name"], meta["key"])
    manifest = manifest_of(config, meta)

    def run():
        if client.descriptor(tag) is not None:
            return False
        for _, info in sorted(meta["files"].items()):
            client.put_blob_file(os.path.join(directory, info["file"]), "sha256:" + info["sha256"], info["size"])
        client.put_blob(config)
        client.put_manifest(tag, manifest, OCI_MANIFEST)
        return True
    return _guarded(run)


def _checked_manifest(manifest, name, key):
    """The layers of a component's manifest; DamagedError when it is not this project's artifact of that key."""
    if not isinstance(manifest, dict) or manifest.get("artifactType") != ARTIFACT_TYPE:
        raise DamagedError("its manifest is not a %s" % ARTIFACT_TYPE)
    config = manifest.get("config") or {}
    if config.get("mediaType") != CONFIG_TYPE:
        raise DamagedError("its config is not a %s" % CONFIG_TYPE)
    annotations = manifest.get("annotations") or {}
    if annotations.get(ANNOTATION + ".name") != name or annotations.get(ANNOTATION + ".key") != key:
        raise DamagedError("its manifest is of another component or key")
    return config, manifest.get("layers") or []


def pull(client, cache_dir, name, key):
    """Fetch the artifact of `name` at `key` into `<cache_dir>/<name>-<key prefix>`; False when the registry has
    no such tag. DamagedError when a blob is not what the manifest and artifact.json say (nothing is kept)."""
    tag = tag_of(name, key)
    manifest = _guarded(lambda: client.manifest(tag, accept=OCI_MANIFEST))
    if manifest is None:
        return False
    config, layers = _checked_manifest(manifest, name, key)
    target = os.path.join(cache_dir, "%s-%s" % (name, key[:KEY_PREFIX]))
    os.makedirs(cache_dir, exist_ok=True)
    partial = tempfile.mkdtemp(prefix=".partial-%s-" % os.path.basename(target), dir=cache_dir)
    try:
        try:
            data = _guarded(lambda: client.get_blob(config["digest"], config["size"]))
            meta = json.loads(data.decode())
            files = {"sha256:" + info["sha256"]: info for info in meta["files"].values()}
            if meta.get("key") != key or sorted(files) != sorted(layer["digest"] for layer in layers):
                raise DamagedError("its artifact.json does not list the manifest's layers for that key")
            for layer in layers:
                info = files[layer["digest"]]
                if layer["size"] != info["size"] or os.path.basename(info["file"]) != info["file"]:
                    raise DamagedError("layer %s is not the file artifact.json records" % layer["digest"])
                _guarded(lambda: client.get_blob(layer["digest"], layer["size"], os.path.join(partial, info["file"])))
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise DamagedError(str(exc))
        with open(os.path.join(partial, "artifact.json"), "wb") as handle:
            handle.write(data)
        place_artifact(partial, target, key)
        return True
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def client_for(registry, username="", password="", insecure=False, timeout=60, opener=None):
    """The Registry client of a build_artifact_registry value and its credentials."""
    host, repository = split_registry(registry)
    return Registry(host, repository, username, password, insecure, timeout, opener)


def record_tag(policy, arch, build_id, created):
    """The tag of a build's record: `<policy>_<arch>-build-<created, compact>-<8 hex of the build id's sha256>`."""
    tag = "%s_%s-build-%s-%s" % (policy, arch, re.sub(r"[-:]", "", created),
                                 hashlib.sha256(build_id.encode()).hexdigest()[:8])
    if not re.fullmatch(TAG, tag) or not re.fullmatch(RECORD_TAG, tag):
        raise ValueError("policy %r and arch %r give no valid record tag (created %r must be YYYY-MM-DDTHH:MM:SSZ)"
                         % (policy, arch, created))
    return tag


def record(client, policy, arch, build_id, tags, created=None):
    """Push the record of a build that uses `tags` (of artifacts and bases of the repository); its tag."""
    created = created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    tag = record_tag(policy, arch, build_id, created)
    bad = [t for t in tags if not re.fullmatch(TAG, t)]
    if bad:
        raise ValueError("not tags: %s" % ", ".join(map(repr, bad)))
    content = _canonical({"policy": policy, "arch": arch, "build_id": build_id, "created": created,
                          "tags": sorted(set(tags))})
    # as OCI 1.1 lays out an artifact: the empty config, the content a layer
    manifest = _canonical({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": RECORD_TYPE,
        "config": {"mediaType": OCI_EMPTY, "digest": digest_of(b"{}"), "size": 2},
        "layers": [{"mediaType": RECORD_LAYER_TYPE, "digest": digest_of(content), "size": len(content)}],
        "annotations": {"org.opencontainers.image.created": created}})

    def run():
        client.put_blob(b"{}")
        client.put_blob(content)
        client.put_manifest(tag, manifest, OCI_MANIFEST)
        return tag
    return _guarded(run)


def read_record(client, tag):
    """The record at `tag` (its layer's policy, arch, build_id, created and tags, and its tag); DamagedError when
    it is not a build record."""
    manifest = _guarded(lambda: client.manifest(tag, accept=OCI_MANIFEST))
    if not isinstance(manifest, dict) or manifest.get("artifactType") != RECORD_TYPE:
        raise DamagedError("it is not a %s" % RECORD_TYPE)
    try:
        layers = [layer for layer in manifest.get("layers") or [] if layer.get("mediaType") == RECORD_LAYER_TYPE]
        if len(layers) != 1:
            raise ValueError("it has no single %s layer" % RECORD_LAYER_TYPE)
        found = json.loads(_guarded(lambda: client.get_blob(layers[0]["digest"], layers[0]["size"])).decode())
        if not all(isinstance(found.get(k), str) for k in ("policy", "arch", "created")) or not isinstance(
                found.get("tags"), list):
            raise ValueError("it lacks the policy, arch, time or tags")
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DamagedError(str(exc))
    return dict(found, tag=tag)


def kept_and_unused(tags, records, keep):
    """(kept, unused) of the repository's `tags`: kept, the tags the newest `keep` of `records` (each with policy,
    arch, created, tags, tag) of each policy and arch name, and those records; unused, the other tags of the cache's
    shapes (CACHE_TAG). Tags of other shapes are in neither."""
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ValueError("keep=%r is not a number of builds (1 or more)" % (keep,))
    newest = {}
    for found in sorted(records, key=lambda r: (r["created"], r["tag"]), reverse=True):
        newest.setdefault((found["policy"], found["arch"]), [])
        if len(newest[(found["policy"], found["arch"])]) < keep:
            newest[(found["policy"], found["arch"])].append(found)
    used = set()
    for group in newest.values():
        for found in group:
            used.add(found["tag"])
            used.update(found["tags"])
    cache = sorted(t for t in tags if CACHE_TAG.fullmatch(t))
    return [t for t in cache if t in used], [t for t in cache if t not in used]


def _deleted(client, unused, kept):
    """Delete the manifests of the `unused` tags by digest (DELETE /v2/<repository>/manifests/<digest>), never one
    a `kept` tag names too; (tags deleted, lines). A registry that refuses deletes ends them in one line."""
    def digests(tags):
        return {tag: _guarded(lambda: client.manifest_digest(tag)) for tag in tags}
    kept_digests = set(digests(kept).values())
    by_digest, lines, deleted = {}, [], []
    for tag, digest in sorted(digests(unused).items()):
        if digest in kept_digests:
            lines.append("%s is not deleted: its manifest is a kept tag's too" % tag)
        elif digest is not None:
            by_digest.setdefault(digest, []).append(tag)
    for digest, tags in sorted(by_digest.items(), key=lambda item: item[1]):
        response = _guarded(lambda: client.request("DELETE", "manifests/" + digest, scope="delete"))
        if response.status in (200, 202, 404):
            deleted.extend(tags)
            continue
        answer = response.body[:200].decode(errors="replace").strip()
        if response.status == 405 or "UNSUPPORTED" in answer:
            why = "refuses deletes (HTTP %d %s)" % (response.status, answer)
        elif response.status in (401, 403):
            why = "refuses the credentials a delete needs (HTTP %d %s)" % (response.status, answer)
        else:
            why = "answered HTTP %d %s to a delete" % (response.status, answer)
        lines.append("the artifact registry %s/%s %s: the unused tags are listed, not deleted"
                     % (client.base, client.repository, why))
        break
    return sorted(deleted), lines


def prune(client, keep, delete=False):
    """What the registry keeps (what the last `keep` builds of each policy and arch used) and the other tags of
    the cache's shapes, deleted when `delete`: {kept, unused, deleted, records, lines}. A record that cannot be read
    is one line and left alone; with no record at all, nothing is deleted (nothing says what the builds use).
    ArtifactRegistryError or RuntimeError when the registry is down, refuses or answers an error."""
    kept_and_unused([], [], keep)
    tags = _guarded(client.tags)
    records, lines, unreadable = [], [], []
    for tag in tags:
        if re.fullmatch(RECORD_TAG, tag):
            try:
                records.append(read_record(client, tag))
            except DamagedError as exc:
                unreadable.append(tag)
                lines.append("the build record %s is left alone: %s" % (tag, exc))
    kept, unused = kept_and_unused([t for t in tags if t not in unreadable], records, keep)
    deleted = []
    if delete and not records:
        lines.append("no build recorded what it uses in the artifact registry %s/%s: nothing is deleted"
                     % (client.base, client.repository))
    elif delete and unused:
        deleted, more = _deleted(client, unused, kept)
        lines.extend(more)
    return {"kept": kept, "unused": unused, "deleted": deleted, "records": sorted(r["tag"] for r in records),
            "lines": lines}


def prune_report(where, found, keep, delete):
    """The lines that say what `prune` (its answer `found`) kept, listed or deleted in the registry `where`, then
    what it could not do."""
    lines = ["the artifact registry %s keeps %d tags: what the newest %d builds of each policy and arch use (%d "
             "records)" % (where, len(found["kept"]), keep, len(found["records"]))]
    left = [t for t in found["unused"] if t not in found["deleted"]]
    if found["deleted"]:
        lines.append("deleted from the artifact registry %s: %s" % (where, ", ".join(found["deleted"])))
    if left:
        lines.append("unused in the artifact registry %s, %s: %s" % (where, "not deleted" if delete else "listed",
                                                                      ", ".join(left)))
    if not found["unused"]:
        lines.append("nothing unused in the artifact registry %s" % where)
    return lines + found["lines"]


def pull_missing(client, cache_dir, components):
    """Pull each (name, key) of `components`; (names pulled, lines to show, whether the registry can be used). An
    unreachable registry, refused credentials or an error end the pulls with one line; a damaged artifact is one
    line and is built."""
    pulled, missing, lines, usable = [], [], [], True
    for name, key in components:
        try:
            (pulled if pull(client, cache_dir, name, key) else missing).append(name)
        except ArtifactRegistryError as exc:
            lines.append("the artifact registry %s/%s is %s (%s): the components build here"
                         % (client.base, client.repository, "unreachable" if exc.reason == "down"
                            else "refusing the credentials", exc))
            usable = False
            break
        except RuntimeError as exc:
            lines.append("the artifact registry %s/%s answered %s: the components build here"
                         % (client.base, client.repository, exc))
            usable = False
            break
        except DamagedError as exc:
            lines.append("the artifact of %s in the registry is damaged and was not kept (%s): it builds here"
                         % (name, exc))
    if missing:
        lines.append("not in the artifact registry, built here: %s" % ", ".join(missing))
    return pulled, lines, usable
