"""The artifact cache in an OCI registry (module_utils manylinux_artifact_registry): the artifact <-> OCI mapping,
tags, push and pull through the registry client against an in-memory registry, and the fallbacks (down, 401,
missing tag, damaged blob). tests/integration/test_registry_cache.py does it against Debian's docker-registry."""

import hashlib
import io
import json
import os
import re
import socket
import urllib.error
import urllib.parse

import pytest
import manylinux_artifact_registry as oci
import manylinux_registry as registry_client

KEY = hashlib.sha256(b"openssl").hexdigest()


def make_artifact(cache, name="openssl", key=KEY, files=None):
    files = files if files is not None else {"image.tar": b"image" * 1000, "private.tar": b"private"}
    directory = cache / ("%s-%s" % (name, key[:20]))
    directory.mkdir(parents=True)
    recorded = {}
    for part, data in files.items():
        (directory / part).write_bytes(data)
        recorded[part] = {"file": part, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    meta = {"name": name, "version": "3.5.7", "key": key, "build_id": "b1", "files": recorded}
    (directory / "artifact.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    return directory


class Answer(io.BytesIO):
    def __init__(self, status, headers, body):
        io.BytesIO.__init__(self, body)
        self.status, self.headers = status, headers


class FakeRegistry:
    """An opener for registry_client.Registry: blobs and manifests of one repository in memory, Basic auth of one
    user (None: anonymous), the requests it saw."""

    def __init__(self, user=("u", "p")):
        self.blobs, self.manifests, self.user, self.seen = {}, {}, user, []
        self.uploads, self.redirect, self.deletes = 0, False, True

    def __call__(self, request, timeout=None):
        url = urllib.parse.urlparse(request.full_url)
        method = request.get_method()
        self.seen.append((method, url.path))
        if url.netloc == "storage.example":
            # where the registry sends a blob GET: it must not get the registry's credentials
            assert request.get_header("Authorization") is None
            return Answer(200, {}, self.blobs[url.path[1:]])
        if self.redirect and url.path.split("/")[-2:-1] == ["blobs"] and method == "GET":
            raise urllib.error.HTTPError(request.full_url, 307, "elsewhere",
                                         {"Location": "https://storage.example/" + url.path.split("/")[-1]}, io.BytesIO())
        if self.user and request.get_header("Authorization") != registry_client._basic(*self.user):
            raise urllib.error.HTTPError(request.full_url, 401, "no", {"WWW-Authenticate": 'Basic realm="t"'}, io.BytesIO())
        path = url.path.split("/", 3)[3]
        data = request.data.read() if hasattr(request.data, "read") else request.data
        if path.startswith("blobs/uploads/") and method == "POST":
            return Answer(202, {"Location": "/v2/cache/blobs/uploads/1"}, b"")
        if path.startswith("blobs/uploads/") and method == "PUT":
            digest = urllib.parse.parse_qs(url.query)["digest"][0]
            if registry_client.digest_of(data) != digest:
                raise urllib.error.HTTPError(request.full_url, 400, "digest", {}, io.BytesIO(b"DIGEST_INVALID"))
            self.blobs[digest] = data
            self.uploads += 1
            return Answer(201, {}, b"")
        if path == "tags/list":
            tags = sorted(t for t in self.manifests if not t.startswith("sha256:"))
            return Answer(200, {}, json.dumps({"name": "cache", "tags": tags}).encode())
        kind, _, reference = path.partition("/")
        if method == "DELETE":
            if not self.deletes:
                raise urllib.error.HTTPError(request.full_url, 405, "no", {}, io.BytesIO(
                    b'{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}'))
            body = self.manifests[reference]
            for name in [n for n, b in self.manifests.items() if b == body]:
                del self.manifests[name]
            return Answer(202, {}, b"")
        store = self.blobs if kind == "blobs" else self.manifests
        if method == "PUT":
            store[reference] = store[registry_client.digest_of(data)] = data
            return Answer(201, {}, b"")
        if reference not in store:
            raise urllib.error.HTTPError(request.full_url, 404, "none", {}, io.BytesIO(b"unknown"))
        body = store[reference]
        headers = {"Content-Type": registry_client.OCI_MANIFEST, "Docker-Content-Digest": registry_client.digest_of(body),
                   "Content-Length": str(len(body))}
        return Answer(200, headers, b"" if method == "HEAD" else body)


def client(fake, user=("u", "p")):
    return oci.client_for("127.0.0.1:5000/cache", *(user or ("", "")), insecure=True, timeout=5, opener=fake)


# --- the mapping ---------------------------------------------------------------

def test_the_manifest_lists_the_tar_files_as_layers_and_artifact_json_as_config(tmp_path):
    directory = make_artifact(tmp_path)
    config = (directory / "artifact.json").read_bytes()
    meta = json.loads(config)
    manifest = json.loads(oci.manifest_of(config, meta))
    assert manifest["mediaType"] == registry_client.OCI_MANIFEST
    assert manifest["artifactType"] == oci.ARTIFACT_TYPE
    assert manifest["config"] == {"mediaType": oci.CONFIG_TYPE, "digest": registry_client.digest_of(config),
                                  "size": len(config)}
    assert manifest["layers"] == [
        {"mediaType": oci.LAYER_TYPE, "digest": "sha256:" + meta["files"][part]["sha256"],
         "size": meta["files"][part]["size"], "annotations": {oci.TITLE: part}} for part in ("image.tar", "private.tar")]
    assert manifest["annotations"][oci.ANNOTATION + ".key"] == KEY


def test_the_tag_is_the_cache_directory_name_and_a_long_name_still_gives_a_valid_tag():
    assert oci.tag_of("openssl", KEY) == "openssl-" + KEY[:20]
    long_a, long_b = "a" * 200 + "-x", "a" * 200 + "-y"
    tags = [oci.tag_of(name, KEY) for name in (long_a, long_b)]
    for tag in tags:
        assert len(tag) == 128 and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag)
        assert tag.endswith("-" + KEY[:20])
    assert tags[0] != tags[1]


@pytest.mark.parametrize("text", ["ghcr.io", "ghcr.io/Owner/cache", "ghcr.io/o/cache:tag", "cache",
                                  "ghcr.io/o/cache@sha256:" + "0" * 64, "http://ghcr.io/o/cache", ""])
def test_a_malformed_registry_is_refused_naming_the_rule(text):
    with pytest.raises(ValueError, match=r"host\[:port\]/repository"):
        oci.split_registry(text)


def test_a_registry_splits_into_host_and_repository():
    assert oci.split_registry("ghcr.io/owner/manylinux-shared-cache") == ("ghcr.io", "owner/manylinux-shared-cache")
    assert oci.split_registry("127.0.0.1:5000/cache") == ("127.0.0.1:5000", "cache")


# --- push and pull ---------------------------------------------------------------

def test_a_pushed_artifact_pulls_into_an_empty_cache_byte_for_byte(tmp_path):
    fake = FakeRegistry()
    directory = make_artifact(tmp_path / "a")
    assert oci.push(client(fake), str(directory)) is True
    assert fake.uploads == 3
    assert oci.push(client(fake), str(directory)) is False, "a second push uploads nothing"
    assert fake.uploads == 3
    assert oci.pull_missing(client(fake), str(tmp_path / "b"), [("openssl", KEY)]) == (["openssl"], [], True)
    target = tmp_path / "b" / directory.name
    assert sorted(os.listdir(target)) == ["artifact.json", "image.tar", "private.tar"]
    for part in ("artifact.json", "image.tar", "private.tar"):
        assert (target / part).read_bytes() == (directory / part).read_bytes()
    assert not [n for n in os.listdir(tmp_path / "b") if n.startswith(".partial")]


def test_a_blob_streams_from_and_to_a_file(tmp_path):
    fake = FakeRegistry()
    data = os.urandom(3 << 20)
    (tmp_path / "blob").write_bytes(data)
    digest = registry_client.digest_of(data)
    registry = client(fake)
    assert registry.put_blob_file(str(tmp_path / "blob"), digest, len(data)) is True
    assert registry.put_blob_file(str(tmp_path / "blob"), digest, len(data)) is False
    assert registry.get_blob(digest, len(data), str(tmp_path / "back")) is None
    assert (tmp_path / "back").read_bytes() == data


def test_a_missing_tag_says_so_once_and_pulls_nothing(tmp_path):
    pulled, lines, usable = oci.pull_missing(client(FakeRegistry()), str(tmp_path), [("openssl", KEY), ("zlib", KEY)])
    assert pulled == [] and usable
    assert lines == ["not in the artifact registry, built here: openssl, zlib"]
    assert os.listdir(tmp_path) == []


def test_a_registry_that_is_down_is_one_line_and_asked_once(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = oci.client_for("127.0.0.1:%d/cache" % port, insecure=True, timeout=5)
    pulled, lines, usable = oci.pull_missing(down, str(tmp_path), [("openssl", KEY), ("zlib", KEY), ("git", KEY)])
    assert pulled == [] and len(lines) == 1 and not usable
    assert "is unreachable" in lines[0] and "the components build here" in lines[0]
    with pytest.raises(oci.ArtifactRegistryError, match="down"):
        oci.push(down, str(make_artifact(tmp_path / "a")))


def test_refused_credentials_are_one_line(tmp_path):
    fake = FakeRegistry()
    pulled, lines, usable = oci.pull_missing(client(fake, ("u", "wrong")), str(tmp_path),
                                             [("openssl", KEY), ("zlib", KEY)])
    assert pulled == [] and len(lines) == 1 and not usable and "refusing the credentials" in lines[0] and "401" in lines[0]
    assert "wrong" not in lines[0]


def test_a_read_that_times_out_mid_blob_is_one_line_and_nothing_is_kept(tmp_path):
    fake = FakeRegistry()
    directory = make_artifact(tmp_path / "a")
    oci.push(client(fake), str(directory))

    def timing_out(request, timeout=None):
        if "/blobs/" in request.full_url and request.get_method() == "GET":
            raise TimeoutError("The read operation timed out")
        return fake(request, timeout)
    pulled, lines, usable = oci.pull_missing(client(timing_out), str(tmp_path / "b"), [("openssl", KEY), ("zlib", KEY)])
    assert pulled == [] and len(lines) == 1 and not usable
    assert "timed out" in lines[0] and "the components build here" in lines[0]
    # no artifact and no partial directory of one
    assert (os.listdir(tmp_path / "b") if (tmp_path / "b").exists() else []) == []


def damage(fake, digest):
    fake.blobs[digest] = b"X" + fake.blobs[digest][1:]


def test_a_damaged_layer_is_caught_by_its_digest_and_nothing_is_kept(tmp_path):
    fake = FakeRegistry()
    directory = make_artifact(tmp_path / "a")
    oci.push(client(fake), str(directory))
    meta = json.loads((directory / "artifact.json").read_text())
    damage(fake, "sha256:" + meta["files"]["image.tar"]["sha256"])
    pulled, lines, usable = oci.pull_missing(client(fake), str(tmp_path / "b"), [("openssl", KEY)])
    assert pulled == [] and usable
    assert len(lines) == 1 and "openssl" in lines[0] and "damaged" in lines[0]
    assert os.listdir(tmp_path / "b") == []


def test_a_manifest_of_another_key_or_kind_is_refused(tmp_path):
    fake = FakeRegistry()
    oci.push(client(fake), str(make_artifact(tmp_path / "a")))
    other = hashlib.sha256(b"other").hexdigest()
    fake.manifests[oci.tag_of("openssl", other)] = fake.manifests[oci.tag_of("openssl", KEY)]
    pulled, lines, _ = oci.pull_missing(client(fake), str(tmp_path / "b"), [("openssl", other)])
    assert pulled == [] and "another component or key" in lines[0]
    fake.manifests[oci.tag_of("openssl", other)] = json.dumps({"schemaVersion": 2, "layers": []}).encode()
    pulled, lines, _ = oci.pull_missing(client(fake), str(tmp_path / "b"), [("openssl", other)])
    assert pulled == [] and oci.ARTIFACT_TYPE in lines[0]


def test_an_artifact_json_that_does_not_match_the_layers_is_refused(tmp_path):
    fake = FakeRegistry()
    directory = make_artifact(tmp_path / "a")
    meta = json.loads((directory / "artifact.json").read_text())
    meta["files"]["image.tar"]["sha256"] = "0" * 64
    config = json.dumps(meta).encode()
    manifest = json.loads(oci.manifest_of((directory / "artifact.json").read_bytes(), json.loads(
        (directory / "artifact.json").read_text())))
    manifest["config"].update(digest=registry_client.digest_of(config), size=len(config))
    fake.blobs[registry_client.digest_of(config)] = config
    fake.manifests[oci.tag_of("openssl", KEY)] = json.dumps(manifest).encode()
    pulled, lines, _ = oci.pull_missing(client(fake), str(tmp_path / "b"), [("openssl", KEY)])
    assert pulled == [] and "does not list the manifest's layers" in lines[0]


def test_a_blob_the_registry_sends_elsewhere_is_fetched_there_without_the_credentials(tmp_path):
    fake = FakeRegistry()
    directory = make_artifact(tmp_path / "a")
    oci.push(client(fake), str(directory))
    fake.redirect = True
    assert oci.pull_missing(client(fake), str(tmp_path / "b"), [("openssl", KEY)]) == (["openssl"], [], True)
    assert len([path for method, path in fake.seen if path.startswith("/sha256:")]) == 3, "config and two layers"
    assert (tmp_path / "b" / directory.name / "image.tar").read_bytes() == (directory / "image.tar").read_bytes()


# --- the record of a build, and the prune ------------------------------------------

def record_of(tag, policy="manylinux_2_31", arch="x86_64", created="2026-12-01T10:00:00Z", tags=()):
    return {"tag": tag, "policy": policy, "arch": arch, "created": created, "tags": list(tags)}


def base(kind, n):
    return "manylinux_2_31_x86_64-%s-base-%s" % (kind, ("%x" % n) * 16)


def test_the_newest_builds_of_each_policy_and_arch_keep_what_they_used():
    a1, a2, b1 = oci.tag_of("a", "1" * 64), oci.tag_of("a", "2" * 64), oci.tag_of("b", "1" * 64)
    old = record_of("manylinux_2_31_x86_64-build-20261201T100000Z-00000001", tags=[a1, b1, base("runtime", 1)])
    new = record_of("manylinux_2_31_x86_64-build-20261202T100000Z-00000002", created="2026-12-02T10:00:00Z",
                    tags=[a2, b1, base("runtime", 2)])
    # another arch's last build is older than both and still keeps what it used
    other = record_of("manylinux_2_31_aarch64-build-20261101T100000Z-00000003", arch="aarch64",
                      created="2026-11-01T10:00:00Z", tags=[a1])
    tags = [a1, a2, b1, base("runtime", 1), base("runtime", 2), base("build", 3), "latest", "probe-a-notakey",
            old["tag"], new["tag"], other["tag"]]
    kept, unused = oci.kept_and_unused(tags, [old, new, other], 1)
    assert kept == sorted([a1, a2, b1, base("runtime", 2), new["tag"], other["tag"]])
    # what no newest build used, and the older record; tags of other shapes are neither
    assert unused == sorted([base("runtime", 1), base("build", 3), old["tag"]])
    kept, unused = oci.kept_and_unused(tags, [old, new, other], 2)
    assert unused == [base("build", 3)]
    # nothing recorded: everything of the cache's shapes is unused
    assert oci.kept_and_unused(tags, [], 1)[0] == []


@pytest.mark.parametrize("keep", [0, -1, "1", True, None])
def test_keep_is_a_number_of_builds(keep):
    with pytest.raises(ValueError, match="number of builds"):
        oci.kept_and_unused([], [], keep)


def test_a_record_is_tagged_by_target_time_and_build_and_reads_back():
    tag = oci.record_tag("manylinux_2_31", "x86_64", "b1", "2026-12-04T05:06:07Z")
    assert tag == "manylinux_2_31_x86_64-build-20261204T050607Z-" + hashlib.sha256(b"b1").hexdigest()[:8]
    assert oci.CACHE_TAG.fullmatch(tag)
    with pytest.raises(ValueError, match="no valid record tag"):
        oci.record_tag("manylinux_2_31", "x86_64", "b1", "yesterday")
    fake = FakeRegistry()
    assert oci.record(client(fake), "manylinux_2_31", "x86_64", "b1", ["openssl-" + KEY[:20]],
                      created="2026-12-04T05:06:07Z") == tag
    found = oci.read_record(client(fake), tag)
    assert found == {"tag": tag, "policy": "manylinux_2_31", "arch": "x86_64", "build_id": "b1",
                     "created": "2026-12-04T05:06:07Z", "tags": ["openssl-" + KEY[:20]]}
    # a tag of a record's shape that is something else
    fake.manifests[tag] = fake.manifests["openssl-x"] = json.dumps({"schemaVersion": 2, "layers": []}).encode()
    with pytest.raises(oci.DamagedError, match=oci.RECORD_TYPE):
        oci.read_record(client(fake), tag)


def two_builds(tmp_path, fake):
    """Two builds of one policy and arch: probe-a at two keys, probe-b at one, each build's record; the tags."""
    keys = {n: hashlib.sha256(n.encode()).hexdigest() for n in ("a1", "a2", "b")}
    for name, key in (("probe-a", keys["a1"]), ("probe-a", keys["a2"]), ("probe-b", keys["b"])):
        oci.push(client(fake), str(make_artifact(tmp_path / key, name, key)))
    first, second = (oci.tag_of("probe-a", keys["a1"]), oci.tag_of("probe-b", keys["b"])), (
        oci.tag_of("probe-a", keys["a2"]), oci.tag_of("probe-b", keys["b"]))
    records = [oci.record(client(fake), "manylinux_2_31", "x86_64", build, used, created=created)
               for build, used, created in (("b1", first, "2026-12-01T10:00:00Z"),
                                            ("b2", second, "2026-12-02T10:00:00Z"))]
    return first, second, records


def test_prune_lists_what_the_last_build_did_not_use_and_deletes_it_when_asked(tmp_path):
    fake = FakeRegistry()
    first, second, records = two_builds(tmp_path, fake)
    listed = oci.prune(client(fake), 1)
    assert listed == {"kept": sorted(list(second) + [records[1]]), "unused": sorted([first[0], records[0]]),
                      "deleted": [], "records": records, "lines": []}
    assert first[0] in fake.manifests, "a list deletes nothing"
    deleted = oci.prune(client(fake), 1, delete=True)
    assert deleted["deleted"] == sorted([first[0], records[0]]) and deleted["lines"] == []
    assert first[0] not in fake.manifests and records[0] not in fake.manifests
    assert all(tag in fake.manifests for tag in second)
    assert oci.prune(client(fake), 1, delete=True)["unused"] == []


def test_a_registry_that_refuses_deletes_is_one_line(tmp_path):
    fake = FakeRegistry()
    first, _, records = two_builds(tmp_path, fake)
    fake.deletes = False
    found = oci.prune(client(fake), 1, delete=True)
    assert found["deleted"] == [] and found["unused"] == sorted([first[0], records[0]])
    assert len(found["lines"]) == 1 and "refuses deletes (HTTP 405" in found["lines"][0]
    assert len([m for m, _ in fake.seen if m == "DELETE"]) == 1, "asked once"


def test_without_a_record_nothing_is_deleted_and_a_bad_record_is_left_alone(tmp_path):
    fake = FakeRegistry()
    first, second, records = two_builds(tmp_path, fake)
    for tag in records:
        fake.manifests[tag] = json.dumps({"schemaVersion": 2, "layers": []}).encode()
    found = oci.prune(client(fake), 1, delete=True)
    assert found["deleted"] == [] and found["records"] == []
    assert found["unused"] == sorted(set(first + second))
    assert [line.split(":")[0] for line in found["lines"]] == [
        "the build record %s is left alone" % records[0], "the build record %s is left alone" % records[1],
        "no build recorded what it uses in the artifact registry http"]


def test_a_tag_that_shares_its_manifest_with_a_kept_one_is_not_deleted(tmp_path):
    fake = FakeRegistry()
    first, second, _ = two_builds(tmp_path, fake)
    fake.manifests[first[0]] = fake.manifests[second[0]]
    found = oci.prune(client(fake), 1, delete=True)
    assert first[0] not in found["deleted"] and second[0] in fake.manifests
    assert "%s is not deleted: its manifest is a kept tag's too" % first[0] in found["lines"]


def test_prune_of_a_registry_that_is_down_raises_its_reason():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(oci.ArtifactRegistryError, match="down"):
        oci.prune(oci.client_for("127.0.0.1:%d/cache" % port, insecure=True, timeout=5), 1)


def test_the_tag_list_follows_its_pages():
    pages = {"/v2/cache/tags/list": (["a", "b"], '</v2/cache/tags/list?last=b&n=2>; rel="next"'),
             "/v2/cache/tags/list?last=b&n=2": (["c"], None)}

    def paged(request, timeout=None):
        url = urllib.parse.urlparse(request.full_url)
        tags, link = pages[url.path + ("?" + url.query if url.query else "")]
        return Answer(200, {"Link": link} if link else {}, json.dumps({"tags": tags}).encode())
    assert client(paged, None).tags() == ["a", "b", "c"]


def test_a_delete_after_a_pull_asks_for_a_token_of_its_scope():
    """A Bearer token is for the scope it was asked with (ghcr.io, a registry with token auth)."""
    scopes = []

    def token_registry(request, timeout=None):
        url = urllib.parse.urlparse(request.full_url)
        if url.netloc == "auth.example":
            scope = urllib.parse.parse_qs(url.query)["scope"][0]
            scopes.append(scope)
            return Answer(200, {}, json.dumps({"token": scope}).encode())
        wanted = "repository:cache:delete" if request.get_method() == "DELETE" else "repository:cache:pull"
        if request.get_header("Authorization") != "Bearer " + wanted:
            raise urllib.error.HTTPError(request.full_url, 401, "no", {"WWW-Authenticate": (
                'Bearer realm="https://auth.example/token",service="s",scope="%s"' % wanted)}, io.BytesIO())
        return Answer(202 if request.get_method() == "DELETE" else 200, {}, json.dumps({"tags": []}).encode())
    registry = client(token_registry, ("u", "p"))
    assert registry.tags() == []
    assert registry.request("DELETE", "manifests/sha256:" + "0" * 64, scope="delete").status == 202
    assert scopes == ["repository:cache:pull", "repository:cache:delete"]


def test_the_report_says_what_was_kept_listed_or_deleted_then_what_could_not_be_done():
    found = {"kept": ["a", "b"], "unused": ["c", "d"], "deleted": [], "records": ["r"], "lines": ["c is not deleted"]}
    assert oci.prune_report("reg/cache", found, 1, False) == [
        "the artifact registry reg/cache keeps 2 tags: what the newest 1 builds of each policy and arch use (1 records)",
        "unused in the artifact registry reg/cache, listed: c, d", "c is not deleted"]
    assert oci.prune_report("reg/cache", dict(found, deleted=["d"]), 1, True)[1:3] == [
        "deleted from the artifact registry reg/cache: d", "unused in the artifact registry reg/cache, not deleted: c"]
    assert oci.prune_report("reg/cache", dict(found, unused=[], lines=[]), 1, True)[1:] == [
        "nothing unused in the artifact registry reg/cache"]


def test_prune_with_refused_credentials_raises_its_reason(tmp_path):
    fake = FakeRegistry()
    two_builds(tmp_path, fake)
    with pytest.raises(oci.ArtifactRegistryError, match="refused") as raised:
        oci.prune(client(fake, ("u", "wrong")), 1, delete=True)
    assert "wrong" not in str(raised.value)
    assert not [m for m, _ in fake.seen if m == "DELETE"]
