"""The two modules' logic, without Ansible's module plumbing."""

import hashlib
import json
import io
import os
import shutil
import time

import pytest

import manylinux_build_step as step
import manylinux_source_fetch as fetch
from conftest import ROOT, load_group_vars


def source(tmp_path, name, content):
    return {"key": name, "file": name + ".tar.gz", "url": "https://example.invalid/" + name,
            "sha256": hashlib.sha256(content).hexdigest()}


def test_cached_good_file_is_used(tmp_path):
    entry = source(tmp_path, "good-1", b"good")
    (tmp_path / entry["file"]).write_bytes(b"good")
    paths, downloaded, errors = fetch.fetch_all([entry], str(tmp_path), 5, opener=None)
    assert errors == [] and downloaded == []
    assert paths == {"good-1": str(tmp_path / "good-1.tar.gz")}


def test_tampered_file_names_both_hashes_and_is_removed(tmp_path):
    entry = source(tmp_path, "bad-1", b"original")
    (tmp_path / entry["file"]).write_bytes(b"tampered")
    _, _, errors = fetch.fetch_all([entry], str(tmp_path), 5, opener=None)
    assert len(errors) == 1
    assert entry["sha256"] in errors[0]
    assert hashlib.sha256(b"tampered").hexdigest() in errors[0]
    assert "bad-1.tar.gz" in errors[0] and "removed" in errors[0]
    assert not (tmp_path / entry["file"]).exists()


def test_every_bad_file_is_reported(tmp_path):
    entries = [source(tmp_path, "a-1", b"a"), source(tmp_path, "b-1", b"b")]
    for entry in entries:
        (tmp_path / entry["file"]).write_bytes(b"x")
    _, _, errors = fetch.fetch_all(entries, str(tmp_path), 5, opener=None)
    assert len(errors) == 2


def test_download_is_verified_before_it_lands(tmp_path):
    entry = source(tmp_path, "dl-1", b"payload")
    _, downloaded, errors = fetch.fetch_all([entry], str(tmp_path), 5,
                                            opener=lambda url, **kw: io.BytesIO(b"payload"))
    assert errors == [] and downloaded == ["dl-1"]
    assert (tmp_path / entry["file"]).read_bytes() == b"payload"


def test_bad_download_leaves_nothing(tmp_path):
    entry = source(tmp_path, "dl-2", b"payload")
    _, downloaded, errors = fetch.fetch_all([entry], str(tmp_path), 5,
                                            opener=lambda url, **kw: io.BytesIO(b"evil"))
    assert downloaded == [] and "mismatch" in errors[0] and "not stored" in errors[0]
    assert os.listdir(tmp_path) == []


def test_failed_download_leaves_nothing(tmp_path):
    def refuse(url, **kw):
        raise OSError("no route")
    entry = source(tmp_path, "dl-3", b"payload")
    _, _, errors = fetch.fetch_all([entry], str(tmp_path), 5, opener=refuse)
    assert "cannot download" in errors[0] and "no route" in errors[0]
    assert os.listdir(tmp_path) == []


def test_check_mode_downloads_nothing(tmp_path):
    entry = source(tmp_path, "dl-4", b"payload")
    _, downloaded, errors = fetch.fetch_all([entry], str(tmp_path), 5, check_mode=True, opener=None)
    assert downloaded == ["dl-4"] and errors == [] and os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["../escape.tar.gz", "/etc/passwd", "sub/dir.tar.gz", "..", ".partial-x", ""])
def test_a_file_outside_the_cache_is_refused_before_anything(tmp_path, name):
    entry = dict(source(tmp_path, "x-1", b"x"), file=name)
    paths, downloaded, errors = fetch.fetch_all([entry], str(tmp_path), 5, opener=None)
    assert paths == {} and downloaded == []
    assert len(errors) == 1 and "x-1" in errors[0] and "plain file name inside the source cache" in errors[0]


def test_an_unwritable_cache_names_every_missing_file(tmp_path):
    # a cache directory below a regular file can neither be made nor written, even by root
    (tmp_path / "plain-file").write_text("")
    cache = tmp_path / "plain-file" / "cache"
    entries = [source(tmp_path, "a-1", b"a"), source(tmp_path, "b-1", b"b")]
    calls = []
    _, downloaded, errors = fetch.fetch_all(entries, str(cache), 5, opener=lambda url, **kw: calls.append(url))
    assert downloaded == [] and calls == [], "nothing is downloaded when it cannot be stored"
    assert len(errors) == 1
    assert "the source cache %s cannot be written" % cache in errors[0]
    assert "a-1.tar.gz (a-1), b-1.tar.gz (b-1)" in errors[0]
    assert ".partial-" not in errors[0]


def test_verifying_where_used_names_a_missing_file_and_downloads_nothing(tmp_path):
    entries = [source(tmp_path, "a-1", b"a"), source(tmp_path, "b-1", b"b")]
    (tmp_path / "a-1.tar.gz").write_bytes(b"a")
    calls = []
    _, downloaded, errors = fetch.fetch_all(entries, str(tmp_path), 5, opener=lambda url, **kw: calls.append(url),
                                            download_missing=False)
    assert downloaded == [] and calls == []
    assert errors == ["the source cache %s lacks b-1.tar.gz (b-1)" % tmp_path]


def test_stale_partial_downloads_are_removed(tmp_path):
    stale, live = tmp_path / ".partial-dead", tmp_path / ".partial-live"
    stale.write_bytes(b"half")
    live.write_bytes(b"half")
    old = time.time() - fetch.STALE_PARTIAL_SECONDS - 60
    os.utime(stale, (old, old))
    entry = source(tmp_path, "dl-5", b"payload")
    _, downloaded, errors = fetch.fetch_all([entry], str(tmp_path), 5, opener=lambda url, **kw: io.BytesIO(b"payload"))
    assert errors == [] and downloaded == ["dl-5"]
    assert not stale.exists() and live.exists(), "a download of a live run is never touched"


def test_a_transient_error_is_retried_with_a_bound(tmp_path):
    attempts, pauses = [], []

    def flaky(url, **kw):
        attempts.append(url)
        if len(attempts) < 3:
            raise OSError("connection reset")
        return io.BytesIO(b"payload")
    entry = source(tmp_path, "dl-6", b"payload")
    _, downloaded, errors = fetch.fetch_all([entry], str(tmp_path), 5, opener=flaky, sleep=pauses.append)
    assert errors == [] and downloaded == ["dl-6"] and len(attempts) == 3 and pauses == [2, 8]

    attempts.clear()
    other = source(tmp_path, "dl-7", b"payload")
    _, _, errors = fetch.fetch_all([other], str(tmp_path), 5, opener=lambda url, **kw: flaky(url) and None,
                                   attempts=2, sleep=pauses.append)
    assert len(attempts) == 2 and "connection reset (2 attempts)" in errors[0]
    assert [n for n in os.listdir(tmp_path) if n.startswith(".partial-")] == []


def test_a_bad_download_is_not_retried(tmp_path):
    calls = []
    entry = source(tmp_path, "dl-8", b"payload")
    _, _, errors = fetch.fetch_all([entry], str(tmp_path), 5, sleep=calls.append,
                                   opener=lambda url, **kw: calls.append(url) or io.BytesIO(b"evil"))
    assert len(calls) == 1 and "mismatch" in errors[0]


def test_build_step_logs_output(tmp_path):
    result = step.run_step("demo 1.0 make", "echo compiling; echo warn >&2", str(tmp_path),
                           {"FOO": "bar"}, str(tmp_path / "logs"), 10)
    assert result["rc"] == 0 and not result.get("failed")
    assert os.path.basename(result["log"]) == "demo_1.0_make.log"
    log = open(result["log"]).read()
    assert "compiling" in log and "warn" in log and "FOO=bar" in log and "### exit 0" in log


def test_build_step_failure_shows_the_tail(tmp_path):
    script = "for i in $(seq 1 100); do echo line $i; done; exit 3"
    result = step.run_step("demo configure", script, str(tmp_path), {}, str(tmp_path), 5)
    assert result["failed"] and result["rc"] == 3
    assert "demo configure failed (exit 3" in result["msg"]
    assert "line 100" in result["msg"] and "line 95" not in result["msg"]


def test_build_step_environment_reaches_the_command(tmp_path):
    result = step.run_step("env", 'test "$CFLAGS" = "-O2"', str(tmp_path), {"CFLAGS": "-O2"}, str(tmp_path), 5)
    assert result["rc"] == 0


def test_rootfs_archive_records_the_platform(tmp_path):
    import json
    import tarfile

    import manylinux_rootfs_image as rootfs

    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as out:
        hello = tmp_path / "hello"
        hello.write_text("hi")
        out.add(hello, arcname="./etc/hello")
    archive = tmp_path / "image.tar"
    image_id = rootfs.write_archive(str(layer), str(archive), "test/x:armhf", "linux/arm/v7",
                                    ["/bin/bash"], ["PATH=/bin"], "2026-01-01T00:00:00Z")
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        config_name = manifest[0]["Config"]
        config = json.load(tar.extractfile(config_name))
        layer_name = manifest[0]["Layers"][0]
        assert tar.getmember(layer_name).size == layer.stat().st_size
    assert manifest[0]["RepoTags"] == ["test/x:armhf"]
    assert image_id == "sha256:" + config_name[:-len(".json")]
    assert (config["os"], config["architecture"], config["variant"]) == ("linux", "arm", "v7")
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer.read_bytes()).hexdigest()]
    assert config["config"] == {"Cmd": ["/bin/bash"], "Env": ["PATH=/bin"]}


def test_rootfs_platform_must_be_complete():
    import pytest

    import manylinux_rootfs_image as rootfs

    assert rootfs.parse_platform("linux/amd64") == {"os": "linux", "architecture": "amd64"}
    with pytest.raises(ValueError):
        rootfs.parse_platform("amd64")


def test_step_exiting_0_fails_on_a_flagged_line(tmp_path):
    script = "echo building; echo 'Failed to build these modules:'; echo _decimal; echo done"
    result = step.run_step("py make", script, str(tmp_path), {}, str(tmp_path), 5,
                           fail_on=["^Failed to build these modules:"])
    assert result["failed"] and result["rc"] == 0
    assert "Failed to build these modules:\n_decimal" in result["msg"]


def test_flagged_lines_of_an_earlier_run_do_not_count(tmp_path):
    step.run_step("py make", "echo 'Failed to build these modules:'", str(tmp_path), {}, str(tmp_path), 5)
    result = step.run_step("py make", "echo fine", str(tmp_path), {}, str(tmp_path), 5,
                           fail_on=["^Failed to build these modules:"])
    assert not result.get("failed")


def test_every_plugin_documents_itself_in_yaml():
    """ansible-doc and ansible-lint read DOCUMENTATION and RETURN as YAML."""
    import ast
    import glob

    import yaml
    from conftest import ROOT
    paths = [path for kind in ("modules", "lookup", "callback")
             for path in glob.glob(os.path.join(ROOT, "plugins", kind, "*.py"))]
    for path in paths:
        with open(path) as handle:
            tree = ast.parse(handle.read())
        docs = {node.targets[0].id: node.value.value for node in tree.body
                if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") in ("DOCUMENTATION", "RETURN")}
        assert "DOCUMENTATION" in docs, path
        for name, text in docs.items():
            assert isinstance(yaml.safe_load(text), dict), "%s: %s" % (path, name)


def test_a_live_controller_is_alive_and_a_finished_one_dead():
    import subprocess
    import sys

    import manylinux_owner as controller
    assert controller.state_of(controller.identify(os.getpid())) == "alive"
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = controller.identify(child.pid)
    child.wait()
    assert controller.state_of(identity) == "dead"


def test_a_reused_pid_or_another_boot_is_not_the_controller():
    import manylinux_owner as controller
    host, boot, pid, start = controller.identify(os.getpid()).split("/")
    assert controller.state_of("/".join([host, boot, pid, str(int(start) - 1)])) == "dead"
    assert controller.state_of("/".join([host, "another-boot", pid, start])) == "dead"


@pytest.mark.parametrize("identity", ["", "garbage", "other-host.invalid/boot/1/2", "h/b/x/2"])
def test_an_identity_of_another_host_or_shape_is_never_taken_for_dead(identity):
    import manylinux_owner as controller
    assert controller.state_of(identity) == "unknown"


def test_the_children_of_a_process_are_its_live_ones():
    import subprocess
    import sys

    import manylinux_owner as controller
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in controller.children(os.getpid())
        assert child.pid not in controller.children(child.pid)
    finally:
        child.kill()
        child.wait()
    assert child.pid not in controller.children(os.getpid())


def test_no_such_process_has_no_identity():
    import manylinux_owner as controller
    with pytest.raises(ValueError, match="no process"):
        controller.identify(2 ** 22 + 1)


# --- manylinux_wheel_fetch ---------------------------------------------------

import manylinux_wheel_fetch as wheels  # noqa: E402


class FakePip:
    """pip download as far as the module sees it: for each run, the wheels `offer` holds are written to --dest
    and named as saved; `online` (True/False) says whether a run with the index or without it succeeds."""

    def __init__(self, offer, online=True, offline=True):
        self.offer, self.online, self.offline, self.runs = offer, online, offline, []

    def __call__(self, argv):
        self.runs.append(argv)
        ok = self.offline if "--no-index" in argv else self.online
        dest = argv[argv.index("--dest") + 1]
        lines = []
        if ok:
            for name, content in self.offer.items():
                with open(os.path.join(dest, name), "wb") as handle:
                    handle.write(content)
                lines.append("Saved %s/%s" % (dest, name))
        return type("Proc", (), {"returncode": 0 if ok else 1, "stdout": "\n".join(lines) + "\n",
                                 "stderr": "" if ok else "ERROR: No matching distribution found for tool==1.0"})


TARGET = {"libc": "glibc", "glibc": "2.31", "arch": "x86_64"}


def requirements(tmp_path, text="tool==1.0 --hash=sha256:" + "0" * 64 + "\n"):
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return [str(path)]


def test_platform_tags_go_down_to_the_oldest_manylinux_with_the_legacy_aliases():
    tags = wheels.platform_tags(TARGET)
    assert tags[0] == "manylinux_2_31_x86_64" and tags[-1] == "manylinux1_x86_64"
    assert tags.index("manylinux2014_x86_64") == tags.index("manylinux_2_17_x86_64") + 1
    arm = wheels.platform_tags({"libc": "glibc", "glibc": "2.17", "arch": "aarch64"})
    assert "manylinux2014_aarch64" in arm and not any(t.startswith("manylinux2010") for t in arm)
    assert wheels.platform_tags({"libc": "musl", "musl": "1.2", "arch": "aarch64"}) == [
        "musllinux_1_2_aarch64", "musllinux_1_1_aarch64", "musllinux_1_0_aarch64"]


def test_python_options_name_the_abi_of_a_free_threaded_python():
    options = wheels.python_options("3.14t")
    assert options[:4] == ["--python-version", "3.14", "--implementation", "cp"]
    assert [options[i + 1] for i, o in enumerate(options) if o == "--abi"] == ["cp314t", "none"]
    assert "abi3" in wheels.python_options("3.13")
    with pytest.raises(ValueError):
        wheels.python_options("3")


def test_wheels_are_downloaded_once_then_come_from_the_cache_without_pip(tmp_path):
    cache = str(tmp_path / "cache")
    pip = FakePip({"tool-1.0-py3-none-any.whl": b"wheel"}, offline=False)
    files, downloaded, errors = wheels.fetch(requirements(tmp_path), "3.13", TARGET, cache, run=pip)
    assert errors == [] and downloaded == ["tool-1.0-py3-none-any.whl"]
    assert files == [{"name": "tool-1.0-py3-none-any.whl", "path": os.path.join(cache, "tool-1.0-py3-none-any.whl"),
                      "sha256": hashlib.sha256(b"wheel").hexdigest()}]
    online = pip.runs[-1]
    assert "--isolated" in online and "--require-hashes" in online and "--no-index" not in online
    assert online[online.index("--platform") + 1] == "manylinux_2_31_x86_64"
    assert not [name for name in os.listdir(cache) if name.startswith(".partial-")]
    again = FakePip({}, online=False, offline=False)
    assert wheels.fetch(requirements(tmp_path), "3.13", TARGET, cache, run=again) == (files, [], [])
    assert again.runs == []


def test_a_damaged_cached_wheel_is_fetched_again(tmp_path):
    cache = str(tmp_path / "cache")
    pip = FakePip({"tool-1.0-py3-none-any.whl": b"wheel"}, offline=False)
    wheels.fetch(requirements(tmp_path), "3.13", TARGET, cache, run=pip)
    with open(os.path.join(cache, "tool-1.0-py3-none-any.whl"), "wb") as handle:
        handle.write(b"damaged")
    files, downloaded, errors = wheels.fetch(requirements(tmp_path), "3.13", TARGET, cache, run=pip)
    assert errors == [] and downloaded == ["tool-1.0-py3-none-any.whl"]
    with open(files[0]["path"], "rb") as handle:
        assert handle.read() == b"wheel"


def test_a_filled_cache_works_offline_and_another_python_is_resolved_anew(tmp_path):
    cache = str(tmp_path / "cache")
    wheels.fetch(requirements(tmp_path), "3.13", TARGET, cache, run=FakePip({"tool-1.0-py3-none-any.whl": b"w"}))
    offline = FakePip({"tool-1.0-py3-none-any.whl": b"w"}, online=False)
    files, downloaded, errors = wheels.fetch(requirements(tmp_path), "3.12", TARGET, cache, run=offline)
    assert errors == [] and downloaded == [] and len(files) == 1
    assert len(offline.runs) == 1 and "--no-index" in offline.runs[0]


def test_a_wheel_the_index_lacks_names_the_file_and_pips_reason(tmp_path):
    pip = FakePip({}, online=False, offline=False)
    files, downloaded, errors = wheels.fetch(requirements(tmp_path), "3.13", TARGET, str(tmp_path / "c"),
                                             index_url="https://index.invalid/simple", run=pip)
    assert files == [] and downloaded == [] and len(errors) == 1
    assert "requirements.txt" in errors[0] and "manylinux_2_31_x86_64" in errors[0]
    assert "https://index.invalid/simple" in errors[0] and "No matching distribution found for tool==1.0" in errors[0]


# --- manylinux_registry_tags ---------------------------------------------------

import manylinux_registry_tags as registry_tags  # noqa: E402


def test_the_next_dated_tag_counts_the_days_builds():
    assert registry_tags.next_number([], "2026.12.02") == 1
    tags = ["latest", "2026.12.01-4", "2026.12.02-1", "2026.12.02-3", "2026.12.02-x", "12026.12.02-9"]
    assert registry_tags.next_number(tags, "2026.12.02") == 4


class FakeRegistry:
    """A registry that asks for a Bearer token from its realm, as ghcr.io does."""

    def __init__(self, tags):
        self.tags, self.requests = tags, []

    def __call__(self, request, timeout):
        import urllib.error
        self.requests.append((request.full_url, dict(request.header_items())))
        auth = request.get_header("Authorization") or ""
        if request.full_url.startswith("https://auth.example/token"):
            return io.BytesIO(json.dumps({"token": "t0k"}).encode())
        if auth != "Bearer t0k":
            raise urllib.error.HTTPError(request.full_url, 401, "unauthorized", {
                "WWW-Authenticate": 'Bearer realm="https://auth.example/token",service="reg.example"'}, None)
        if self.tags is None:
            raise urllib.error.HTTPError(request.full_url, 404, "unknown", {}, None)
        return io.BytesIO(json.dumps({"tags": self.tags}).encode())


def test_tags_are_listed_through_a_bearer_challenge():
    fake = FakeRegistry(["latest", "2026.12.02-1"])
    params = dict(registry="reg.example", repository="o/p-shared", username="user", password="pw",
                  insecure=False, timeout=30)
    assert registry_tags.list_tags(params, opener=fake) == ["2026.12.02-1", "latest"]
    token_url, token_headers = fake.requests[1]
    assert "scope=repository%3Ao%2Fp-shared%3Apull" in token_url and "service=reg.example" in token_url
    assert token_headers["Authorization"].startswith("Basic ")


def test_an_unknown_repository_has_no_tags():
    params = dict(registry="reg.example", repository="o/new", username="", password="", insecure=False, timeout=30)
    assert registry_tags.list_tags(params, opener=FakeRegistry(None)) == []


# --- manylinux_registry_index ---------------------------------------------------

import manylinux_registry_index as registry_index  # noqa: E402


def test_a_docker_list_becomes_a_canonical_annotated_oci_index():
    listed = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
              "manifests": [{"digest": "sha256:" + "1" * 64, "platform": {"architecture": "amd64", "os": "linux"}}]}
    index = registry_index.oci_index(listed, {"org.opencontainers.image.title": "p-shared"})
    document = json.loads(index)
    assert document["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert document["manifests"] == listed["manifests"]
    assert document["annotations"] == {"org.opencontainers.image.title": "p-shared"}
    # the same list and annotations, the same bytes: a second publish changes nothing
    assert registry_index.oci_index(dict(listed, mediaType="application/vnd.oci.image.index.v1+json"),
                                    {"org.opencontainers.image.title": "p-shared"}) == index
    with pytest.raises(ValueError, match="not a manifest list"):
        registry_index.oci_index({"mediaType": "application/vnd.oci.image.manifest.v1+json"}, {})


# ---------------------------------------------------------------- the fetch's sigstore opt-in


def signed_source(served, base, asset, data=None, version="3.14.9"):
    """A CPython source entry served from `base` whose tarball is a real signed file (or `data`), with its bundle."""
    data = open(asset["path"], "rb").read() if data is None else data
    name = "Python-%s.tar.xz" % version
    (served / name).write_bytes(data)
    shutil.copyfile(asset["bundle"], served / (name + ".sigstore"))
    return {"key": "cpython-" + version, "name": "cpython", "version": version, "file": name,
            "url": "%s/%s" % (base, name), "sha256": hashlib.sha256(data).hexdigest()}


def signers(asset, series="3.14"):
    return {"cpython": {series: {field: asset[field] for field in ("identity", "issuer", "instance")}}}


def fetch_checked(entries, cache, table):
    paths, downloaded, errors = fetch.fetch_all(entries, str(cache), 5)
    assert errors == []
    return fetch.check_signatures(entries, paths, table, 5, sleep=lambda s: None)


def test_the_sigstore_opt_in_checks_a_fetched_source_offline(tmp_path, http_directory, sigstore_assets, no_network):
    served, base = http_directory
    asset = sigstore_assets["rfc8785-0.1.2-py3-none-any.whl"]
    entry = signed_source(served, base, asset)
    other = dict(source(tmp_path, "openssl-3.5.8", b"openssl"), name="openssl", version="3.5.8")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / other["file"]).write_bytes(b"openssl")
    checked, errors = fetch_checked([entry, other], tmp_path / "cache", signers(asset))
    assert errors == [] and list(checked) == ["cpython-3.14.9"]  # openssl: no signer, not checked
    assert "signed by william@yossarian.net (issuer https://github.com/login/oauth)" in checked["cpython-3.14.9"]
    assert sorted(os.listdir(tmp_path / "cache")) == ["Python-3.14.9.tar.xz", "Python-3.14.9.tar.xz.sigstore",
                                                      "openssl-3.5.8.tar.gz"]
    # a second run uses the cached bundle: the server is not asked again
    (served / "Python-3.14.9.tar.xz.sigstore").unlink()
    assert list(fetch_checked([entry], tmp_path / "cache", signers(asset))[0]) == ["cpython-3.14.9"]


@pytest.mark.parametrize("damage", ["byte", "bundle", "identity"])
def test_the_sigstore_opt_in_refuses_a_bad_source(tmp_path, http_directory, sigstore_assets, no_network, damage):
    served, base = http_directory
    asset = sigstore_assets["rfc8785-0.1.2-py3-none-any.whl"]
    data = bytearray(open(asset["path"], "rb").read())
    if damage == "byte":
        data[1000] ^= 0x01  # and pinned so: the sha256 passes, sigstore must not
    entry = signed_source(served, base, asset, bytes(data))
    table = signers(asset)
    if damage == "bundle":
        (served / "Python-3.14.9.tar.xz.sigstore").unlink()
    elif damage == "identity":
        table["cpython"]["3.14"]["identity"] = "hugo@python.org"
    checked, errors = fetch_checked([entry], tmp_path / "cache", table)
    assert checked == {} and len(errors) == 1
    expected = {"byte": "is not what", "identity": "is not signed by hugo@python.org",
                "bundle": "sigstore: the bundle of Python-3.14.9.tar.xz (cpython-3.14.9) is missing: "
                          "cannot download Python-3.14.9.tar.xz.sigstore"}
    assert expected[damage] in errors[0]
    # a refused bundle does not stay in the cache
    assert not (tmp_path / "cache" / "Python-3.14.9.tar.xz.sigstore").exists()
    if damage != "bundle":
        assert "the bundle was removed from the cache" in errors[0]


def test_the_sigstore_opt_in_is_off_by_default_and_reads_the_one_signer_table():
    build = load_group_vars("build.yml")
    assert build["build_source_sigstore"] is False
    with open(os.path.join(ROOT, "playbooks", "lifecycle", "start.yml")) as handle:
        start = handle.read()
    assert 'sigstore: "{{ build_source_sigstore | bool }}"' in start
    assert 'sigstore_signers: "{{ build_sigstore_signers }}"' in start
    with open(os.path.join(ROOT, "playbooks", "update_sources.yml")) as handle:
        assert 'sigstore_signers: "{{ build_sigstore_signers }}"' in handle.read()


# --- manylinux_container_files ------------------------------------------------

def test_the_files_go_in_one_tar_with_their_modes_and_the_pins_checked(tmp_path):
    import tarfile

    import manylinux_container_files as files
    wheel = tmp_path / "pip-1-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    items = [{"src": str(wheel), "dest": "/tmp/wheels/pip-1-py3-none-any.whl",
              "sha256": hashlib.sha256(b"wheel bytes").hexdigest()},
             {"content": "#!/bin/sh\n", "dest": "/usr/local/bin/py3", "mode": "0755",
              "sha256": hashlib.sha256(b"#!/bin/sh\n").hexdigest()}]
    out = io.BytesIO()
    assert files.write_tar(items, out) == ["/tmp/wheels/pip-1-py3-none-any.whl", "/usr/local/bin/py3"]
    out.seek(0)
    with tarfile.open(fileobj=out) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert archive.extractfile("tmp/wheels/pip-1-py3-none-any.whl").read() == b"wheel bytes"
        assert archive.extractfile("usr/local/bin/py3").read() == b"#!/bin/sh\n"
    assert members["usr/local/bin/py3"].mode == 0o755 and members["usr/local/bin/py3"].uid == 0
    assert members["tmp/wheels/pip-1-py3-none-any.whl"].mode == 0o644


def test_a_file_changed_since_the_plan_or_missing_or_misplaced_is_refused(tmp_path):
    import manylinux_container_files as files
    wheel = tmp_path / "w.whl"
    wheel.write_bytes(b"changed")
    with pytest.raises(files.FilesError, match="changed on the controller since the plan"):
        files.write_tar([{"src": str(wheel), "dest": "/tmp/w.whl", "sha256": hashlib.sha256(b"planned").hexdigest()}],
                        io.BytesIO())
    with pytest.raises(files.FilesError, match="cannot be read on the controller"):
        files.write_tar([{"src": str(tmp_path / "gone"), "dest": "/tmp/gone"}], io.BytesIO())
    with pytest.raises(files.FilesError, match="absolute path without"):
        files.write_tar([{"content": "x", "dest": "/tmp/../etc/passwd"}], io.BytesIO())


def test_a_source_archive_has_one_top_directory_and_a_known_compression():
    import manylinux_container_files as files
    assert files.archive_root(["openssl-3.5.7/", "openssl-3.5.7/Configure"]) == "openssl-3.5.7"
    assert files.archive_root(["./tcl8.6.18/", "./tcl8.6.18/unix/configure"]) == "tcl8.6.18"
    with pytest.raises(files.FilesError, match="one top directory, found a, b"):
        files.archive_root(["a/x", "b/y"])
    assert [files.tar_option(n) for n in ("a.tar.gz", "a.tgz", "a.tar.xz", "a.tar.bz2", "a.tar.zst", "a.tar")] == \
        ["-z", "-z", "-J", "-j", "--zstd", ""]
    with pytest.raises(files.FilesError, match="not a tar archive"):
        files.tar_option("a.zip")
    with pytest.raises(files.FilesError, match="must be a name in the source cache"):
        files.unpack_into("c", [{"file": "../etc/passwd", "sha256": "0"}], "/cache", "/src")
