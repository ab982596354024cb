"""Two arches built at the same time (one under qemu-user emulation), then published.

One module-scoped pair of builds serves three checks: the emulated image's
metadata, that concurrent builds do not clash, and the push of both images and
their multi-arch manifest to a real registry on 127.0.0.1 (Debian's
docker-registry with htpasswd auth), with credentials from the environment.
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import pytest
from conftest import ROOT, ansible_playbook, containers_of, docker, extra

ARMHF_BASE = "manylinux-shared/base:manylinux_2_31-armhf"
AMD64_BASE = "manylinux-shared/base:manylinux_2_31-amd64"


def _emulation_ready():
    try:
        with open("/proc/sys/fs/binfmt_misc/qemu-arm") as handle:
            text = handle.read()
    except OSError:
        return False
    return text.startswith("enabled") and "F" in text.split("flags:")[1].split()[0]


pytestmark = pytest.mark.skipif(not _emulation_ready(),
                                reason="needs qemu-user emulation: make emulation (CI's setup enables it)")


@pytest.fixture(scope="module")
def two_arch_builds(tmp_path_factory, registry):
    """Build manylinux_2_31 x86_64 and armv7l at the same time on one engine."""
    logs = tmp_path_factory.mktemp("logs")
    for arch in ("x86_64", "armv7l"):
        run = ansible_playbook("playbooks/base.yml", *extra(arch=arch))
        assert run.rc == 0, run.output[-3000:]
    owner = "itest-" + uuid.uuid4().hex[:8]
    env = dict(os.environ, ANSIBLE_ROLES_PATH=os.path.join(ROOT, "roles") + ":" +
               os.path.join(ROOT, "tests", "integration", "roles"), ANSIBLE_NOCOLOR="1")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    procs = {}
    for arch, base in (("x86_64", AMD64_BASE), ("armv7l", ARMHF_BASE)):
        args = extra(policy="manylinux_2_31", arch=arch, base_image=base, build_image_registry=registry["address"],
                     build_image_owner=owner, build_log_root=str(logs), build_roles=["emulation_probe"],
                     no_cache=True)
        procs[arch] = subprocess.Popen([playbook, "playbooks/build.yml", *args], cwd=ROOT, env=env, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    outputs = {arch: proc.communicate()[0] for arch, proc in procs.items()}
    refs = {arch: "%s/%s/manylinux_2_31_%s-shared:latest" % (registry["address"], owner, arch) for arch in procs}
    try:
        yield {"owner": owner, "logs": logs, "outputs": outputs, "refs": refs,
               "rc": {arch: proc.returncode for arch, proc in procs.items()}}
    finally:
        for ref in refs.values():
            docker("rmi", ref)


def _build_id(output):
    for line in output.splitlines():
        if "build manylinux_2_31_" in line:
            return line.split("build ", 1)[1].split(":", 1)[0]
    raise AssertionError("no build id in the output:\n" + output[-2000:])


def test_concurrent_builds_do_not_clash(two_arch_builds):
    for arch, output in two_arch_builds["outputs"].items():
        assert two_arch_builds["rc"][arch] == 0, output[-3000:]
    ids = {arch: _build_id(out) for arch, out in two_arch_builds["outputs"].items()}
    assert ids["x86_64"] != ids["armv7l"]
    for build_id in ids.values():
        assert containers_of(build_id) == []
        assert (two_arch_builds["logs"] / build_id / "emulation-probe_uname.log").is_file()


def test_emulated_image_is_armv7l(two_arch_builds):
    assert two_arch_builds["rc"]["armv7l"] == 0, two_arch_builds["outputs"]["armv7l"][-3000:]
    inspect = docker("image", "inspect", ARMHF_BASE, "--format", "{{.Os}}/{{.Architecture}}/{{.Variant}}")
    assert inspect.stdout.strip() == "linux/arm/v7"
    ref = two_arch_builds["refs"]["armv7l"]
    config = json.loads(docker("image", "inspect", ref).stdout)[0]
    assert (config["Architecture"], config.get("Variant")) == ("arm", "v7")
    assert "AUDITWHEEL_ARCH=armv7l" in config["Config"]["Env"]
    assert config["Config"]["Labels"]["io.github.manylinux-shared.emulation-probe"] == "1.0"
    out = docker("run", "--rm", ref, "sh", "-c",
                 "uname -m; cat /opt/_internal/emulation-probe/machine /opt/_internal/emulation-probe/jobs; nproc")
    machine, built_on, jobs, cores = out.stdout.split()
    assert machine == built_on == "armv7l"
    assert jobs == cores, "make -j follows the host's cores"


def _registry_get(registry, path, accept):
    request = urllib.request.Request("http://%s%s" % (registry["address"], path), headers={
        "Accept": accept,
        "Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (registry["user"], registry["password"])).encode()).decode()})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _registry_digest(registry, path, accept):
    request = urllib.request.Request("http://%s%s" % (registry["address"], path), method="HEAD", headers={
        "Accept": accept,
        "Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (registry["user"], registry["password"])).encode()).decode()})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Docker-Content-Digest"]


def _registry_blob(registry, path):
    request = urllib.request.Request("http://%s%s" % (registry["address"], path), headers={
        "Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (registry["user"], registry["password"])).encode()).decode()})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def _assert_the_sboms_are_attached(builds, registry, owner):
    """Each arch's image has one SBOM artifact in the registry, the very file the image holds."""
    for arch, ref in builds["refs"].items():
        repository = "%s/manylinux_2_31_%s-shared" % (owner, arch)
        subject = _registry_digest(registry, "/v2/%s/manifests/latest" % repository, IMAGE_MANIFEST)
        index = _registry_get(registry, "/v2/%s/manifests/%s" % (repository, subject.replace(":", "-")),
                              "application/vnd.oci.image.index.v1+json")
        assert [m["artifactType"] for m in index["manifests"]] == ["application/vnd.cyclonedx+json"], index
        artifact = _registry_get(registry, "/v2/%s/manifests/%s" % (repository, index["manifests"][0]["digest"]),
                                 "application/vnd.oci.image.manifest.v1+json")
        assert artifact["subject"]["digest"] == subject
        container = docker("create", ref).stdout.strip()
        try:
            with tempfile.TemporaryDirectory() as scratch:
                docker("cp", container + ":/opt/_internal/sbom.cdx.json", scratch)
                with open(os.path.join(scratch, "sbom.cdx.json"), "rb") as handle:
                    expected = handle.read()
        finally:
            docker("rm", container)
        assert _registry_blob(registry, "/v2/%s/blobs/%s" % (repository, artifact["layers"][0]["digest"])) == expected


IMAGE_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
# publish makes each multi-arch list an OCI index with annotations
LIST_MANIFEST = "application/vnd.oci.image.index.v1+json"


def test_publish_pushes_images_and_manifest(two_arch_builds, registry):
    assert all(rc == 0 for rc in two_arch_builds["rc"].values())
    owner = two_arch_builds["owner"]
    # without credentials the registry refuses the push
    refused = ansible_playbook("playbooks/publish.yml", *extra(
        policy="manylinux_2_31", publish_arches=["x86_64", "armv7l"], build_image_registry=registry["address"],
        build_image_owner=owner, publish_insecure=True),
        env={"MANYLINUX_REGISTRY_USER": "", "MANYLINUX_REGISTRY_PASSWORD": ""})
    assert refused.rc != 0
    run = ansible_playbook("playbooks/publish.yml", *extra(
        policy="manylinux_2_31", publish_arches=["x86_64", "armv7l"], build_image_registry=registry["address"],
        build_image_owner=owner, build_image_tag="2026.11.25", publish_insecure=True),
        env={"MANYLINUX_REGISTRY_USER": registry["user"], "MANYLINUX_REGISTRY_PASSWORD": registry["password"]})
    # the build tagged :latest; publish pushes the tag asked for, so tag it first
    assert run.rc != 0 and "2026.11.25" in run.output, "a missing image must stop the publish"
    for ref in two_arch_builds["refs"].values():
        docker("tag", ref, ref.rsplit(":", 1)[0] + ":2026.11.25")
    logs = tempfile.mkdtemp(prefix="publish-logs-")
    day = time.strftime("%Y.%m.%d", time.gmtime())
    publish_args = extra(
        policy="manylinux_2_31", publish_arches=["x86_64", "armv7l"], build_image_registry=registry["address"],
        build_image_owner=owner, build_image_tag="2026.11.25", publish_insecure=True, build_log_root=logs)
    env = {"MANYLINUX_REGISTRY_USER": registry["user"], "MANYLINUX_REGISTRY_PASSWORD": registry["password"]}
    run = ansible_playbook("playbooks/publish.yml", *publish_args, env=env)
    try:
        assert run.rc == 0, run.output[-3000:]
        tags = _registry_get(registry, "/v2/%s/manylinux_2_31_armv7l-shared/tags/list" % owner, "application/json")
        pushed = _registry_digest(registry, "/v2/%s/manylinux_2_31_armv7l-shared/manifests/latest" % owner,
                                  IMAGE_MANIFEST)
        # the SBOM's referrers index (the tag schema: this registry has no referrers API) beside the tags
        assert sorted(tags["tags"]) == ["2026.11.25", day + "-1", "latest", pushed.replace(":", "-")]
        _assert_the_sboms_are_attached(two_arch_builds, registry, owner)
        # every pushed digest is in the JSON file, as the registry has it
        with open(os.path.join(logs, "publish-manylinux_2_31-%s-1.json" % day)) as handle:
            digests = json.load(handle)
        prefix = "%s/%s/" % (registry["address"], owner)
        assert sorted(digests) == sorted(prefix + name + ":" + tag
                                         for name in ("manylinux_2_31_x86_64-shared", "manylinux_2_31_armv7l-shared",
                                                      "manylinux_2_31-shared")
                                         for tag in ("2026.11.25", day + "-1", "latest"))
        for ref, digest in digests.items():
            name, tag = ref[len(prefix):].rsplit(":", 1)
            accept = LIST_MANIFEST if name == "manylinux_2_31-shared" else IMAGE_MANIFEST
            assert _registry_digest(registry, "/v2/%s/%s/manifests/%s" % (owner, name, tag), accept) == digest, ref
            assert digest in run.output
        labels = json.loads(docker("image", "inspect", two_arch_builds["refs"]["x86_64"]).stdout)[0]["Config"][
            "Labels"]
        # the next publish of the day is the day's second
        again = ansible_playbook("playbooks/publish.yml", *publish_args, env=env)
        assert again.rc == 0, again.output[-3000:]
        tags = _registry_get(registry, "/v2/%s/manylinux_2_31-shared/tags/list" % owner, "application/json")
        assert sorted(tags["tags"]) == ["2026.11.25", day + "-1", day + "-2", "latest"]
        # attached once: the second publish found the same artifact
        _assert_the_sboms_are_attached(two_arch_builds, registry, owner)
        for tag in ("2026.11.25", day + "-1", "latest"):
            index = _registry_get(registry, "/v2/%s/manylinux_2_31-shared/manifests/%s" % (owner, tag),
                                  LIST_MANIFEST)
            # the images' OCI metadata on the index, with the list's own title and description
            annotations = index["annotations"]
            assert annotations["org.opencontainers.image.title"] == "manylinux_2_31-shared"
            assert "x86_64, armv7l" in annotations["org.opencontainers.image.description"]
            for key in ("source", "revision", "licenses", "vendor", "base.name"):
                assert annotations["org.opencontainers.image." + key] == labels["org.opencontainers.image." + key], key
            platforms = sorted((m["platform"]["architecture"], m["platform"].get("variant", ""))
                               for m in index["manifests"])
            assert platforms == [("amd64", ""), ("arm", "v7")]
        # the login lived in a configuration of the run's own, removed with it
        config = os.path.join(os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"), "config.json")
        assert registry["address"] not in (open(config).read() if os.path.exists(config) else "")
        assert not [d for d in os.listdir(tempfile.gettempdir()) if d.startswith("manylinux-publish-")]
    finally:
        for ref in two_arch_builds["refs"].values():
            for tag in ("2026.11.25", day + "-1", day + "-2"):
                docker("rmi", ref.rsplit(":", 1)[0] + ":" + tag)
        shutil.rmtree(logs, ignore_errors=True)
