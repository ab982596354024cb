"""The artifact cache in an OCI registry (build_artifact_registry) with real builds of the probe roles against
Debian's docker-registry (fixture `registry`): a build pushes its components, a build with an empty artifact cache
pulls them and builds none (the same image content), a one-component change builds that one, a registry that is
down is one line, a damaged blob is caught by its digest and that component builds."""

import base64
import json
import os
import re
import subprocess
import urllib.request
import uuid

import pytest
from conftest import docker, free_port
from test_build_playbook import probe_build

ROLES = ["probe_a", "probe_b"]


def api(registry, path):
    auth = base64.b64encode(("%s:%s" % (registry["user"], registry["password"])).encode()).decode()
    request = urllib.request.Request("http://%s/v2/%s" % (registry["address"], path),
                                     headers={"Authorization": "Basic " + auth,
                                              "Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


RECORD = r"manylinux_2_31_x86_64-build-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}"


def artifacts_in(registry, repository):
    """The repository's tags but the builds' records (each build pushes one: test_registry_prune.py)."""
    return sorted(t for t in api(registry, repository + "/tags/list")["tags"] if not re.fullmatch(RECORD, t))


def said(output, text):
    """Whether a line of the output ends with `text` (the callback quotes a list item, or not)."""
    return re.search(r"%s['\"]?,?$" % re.escape(text), output, re.M) is not None


def image_of(owner):
    return "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % owner


def component_labels(ref):
    labels = json.loads(docker("image", "inspect", ref, "--format", "{{json .Config.Labels}}").stdout)
    return {k: v for k, v in labels.items() if k.startswith("io.github.manylinux-shared.probe")}


def files_of(ref):
    run = docker("run", "--rm", "--entrypoint", "find", ref, "/opt/_internal", "-path", "*probe*")
    assert run.returncode == 0, run.stderr
    return sorted(run.stdout.split())


@pytest.fixture(scope="module")
def warm(registry, tmp_path_factory):
    """One build of probe_a and probe_b with a Docker configuration logged in to the registry, pushing to a
    repository of its own: its work directory, the image, the repository, the environment of the builds."""
    work = tmp_path_factory.mktemp("warm")
    (work / "docker").mkdir()
    auth = base64.b64encode(("%s:%s" % (registry["user"], registry["password"])).encode()).decode()
    (work / "docker" / "config.json").write_text(json.dumps({"auths": {registry["address"]: {"auth": auth}}}))
    repository = "itest-%s/cache" % uuid.uuid4().hex[:8]
    env = {"DOCKER_CONFIG": str(work / "docker")}
    owner, build_id = "itest-" + uuid.uuid4().hex[:8], "itest-" + uuid.uuid4().hex[:8]
    run = probe_build(work, build_id, owner, registry.get("base"), ROLES, env=env,
                      build_artifact_registry="%s/%s" % (registry["address"], repository))
    images = [image_of(owner)]
    try:
        yield {"work": work, "run": run, "image": image_of(owner), "repository": repository, "env": env,
               "images": images}
    finally:
        for ref in images:
            docker("rmi", ref)


@pytest.fixture(scope="module", autouse=True)
def with_base(registry, offline_base):
    registry["base"] = offline_base


def warm_build(warm, registry, tmp_path, build_id, image_owner, base, what, **values):
    """A probe build against the warm repository, its image removed with the warm one's; its seconds printed."""
    run = probe_build(tmp_path, build_id, image_owner, base, ROLES, env=warm["env"],
                      build_artifact_registry="%s/%s" % (registry["address"], warm["repository"]), **values)
    warm["images"].append(image_of(image_owner))
    print("%s: %.1f s" % (what, run.seconds))
    return run


def artifact_tags(work):
    return sorted(os.listdir(work / "artifacts"))


def test_a_build_pushes_each_component(warm, registry):
    run = warm["run"]
    assert run.rc == 0, run.output[-3000:]
    print("first build: %.1f s" % run.seconds)
    tags = artifacts_in(registry, warm["repository"])
    assert tags == artifact_tags(warm["work"])
    assert [t.split("-")[0] + "-" + t.split("-")[1] for t in sorted(tags)] == ["probe-a", "probe-b"]
    manifest = api(registry, "%s/manifests/%s" % (warm["repository"], sorted(tags)[0]))
    assert manifest["artifactType"] == "application/vnd.manylinux-shared.component.v1"
    meta = json.loads((warm["work"] / "artifacts" / sorted(tags)[0] / "artifact.json").read_text())
    assert sorted(layer["digest"] for layer in manifest["layers"]) == sorted(
        "sha256:" + f["sha256"] for f in meta["files"].values())
    assert registry["password"] not in run.output


def test_an_empty_cache_builds_nothing_from_a_warm_registry(warm, registry, tmp_path, build_id, image_owner,
                                                           offline_base):
    run = warm_build(warm, registry, tmp_path, build_id, image_owner, offline_base, "build from the registry")
    assert run.rc == 0, run.output[-3000:]
    assert "components from the artifact registry: probe-a, probe-b" in run.output
    assert "longest first: none" in run.output
    assert "built: none" in run.output
    assert artifact_tags(tmp_path) == artifact_tags(warm["work"])
    assert component_labels(image_of(image_owner)) == component_labels(warm["image"]) != {}
    assert files_of(image_of(image_owner)) == files_of(warm["image"]) != []


def test_a_one_component_change_pulls_the_others_and_builds_it(warm, registry, tmp_path, build_id, image_owner,
                                                               offline_base):
    run = warm_build(warm, registry, tmp_path, build_id, image_owner, offline_base, "one change", probe_b_value="2")
    assert run.rc == 0, run.output[-3000:]
    assert said(run.output, "components from the artifact registry: probe-a")
    assert "not in the artifact registry, built here: probe-b" in run.output
    assert said(run.output, "longest first: probe-b")
    tags = artifacts_in(registry, warm["repository"])
    assert len(tags) == 3, "the new probe-b is pushed too: %s" % tags


def test_a_registry_that_is_down_is_one_line_and_the_build_goes_on(tmp_path, build_id, image_owner, offline_base):
    down = "127.0.0.1:%d/cache" % free_port()
    run = probe_build(tmp_path, build_id, image_owner, offline_base, ROLES, build_artifact_registry=down)
    try:
        print("registry down: %.1f s" % run.seconds)
        assert run.rc == 0, run.output[-3000:]
        assert run.output.count("is unreachable") == 1, run.output[-3000:]
        assert "was not pushed to the artifact registry" not in run.output, "the pushes are not tried once the pull found it down"
        assert "Traceback" not in run.output
        assert "longest first: probe-a, probe-b" in run.output or "longest first: probe-b, probe-a" in run.output
    finally:
        docker("rmi", image_of(image_owner))


def test_a_malformed_registry_fails_at_the_start_naming_the_rule(tmp_path, build_id, image_owner, offline_base):
    run = probe_build(tmp_path, build_id, image_owner, offline_base, ROLES, build_artifact_registry="Bad/Name:tag")
    assert run.rc != 0
    assert "host[:port]/repository" in run.output
    assert run.seconds < 20


# Last: it damages a blob of the warm repository.
def test_a_damaged_blob_is_caught_by_its_digest_and_that_component_builds(warm, registry, tmp_path, build_id,
                                                                          image_owner, offline_base):
    name = [n for n in artifact_tags(warm["work"]) if n.startswith("probe-a-")][0]
    meta = json.loads((warm["work"] / "artifacts" / name / "artifact.json").read_text())
    digest = meta["files"]["image.tar"]["sha256"]
    blob = os.path.join(registry["data"], "docker", "registry", "v2", "blobs", "sha256", digest[:2], digest, "data")
    size = os.path.getsize(blob)
    with open(blob, "r+b") as handle:
        handle.seek(size // 2)
        handle.write(b"\0damaged\0")
    assert os.path.getsize(blob) == size
    run = warm_build(warm, registry, tmp_path, build_id, image_owner, offline_base, "damaged blob")
    assert run.rc == 0, run.output[-3000:]
    assert "the artifact of probe-a in the registry is damaged and was not kept" in run.output
    assert said(run.output, "components from the artifact registry: probe-b")
    assert said(run.output, "longest first: probe-a")
    assert not [n for n in os.listdir(tmp_path / "artifacts") if n.startswith(".partial")]


def test_the_bases_made_here_are_pushed_and_pulled_with_their_image_ids(warm, registry, tmp_path, offline_base):
    # a base of its own (a label on the offline base): bases no build on this engine has made
    base = "itest-%s/base:1" % uuid.uuid4().hex[:8]
    made = subprocess.run(["docker", "build", "-q", "-t", base, "-"], capture_output=True, text=True,
                          input="FROM %s\nLABEL itest=%s\n" % (offline_base, base))
    assert made.returncode == 0, made.stderr
    owners, logs, removed = [], [], []
    env = dict(warm["env"], DOCKER_BUILDKIT="0")
    target = "%s/%s" % (registry["address"], warm["repository"])
    try:
        for step in ("first", "second"):
            owners.append("itest-" + uuid.uuid4().hex[:8])
            build_id = "itest-" + uuid.uuid4().hex[:8]
            logs.append(tmp_path / step / "logs" / build_id)
            run = probe_build(tmp_path / step, build_id, owners[-1], base, ["probe_a"], env=env,
                              build_artifact_registry=target)
            print("bases, %s build: %.1f s" % (step, run.seconds))
            assert run.rc == 0, run.output[-3000:]
            if step == "first":
                assert "to make: runtime, build" in run.output
                tags = api(registry, warm["repository"] + "/tags/list")["tags"]
                runtime, build = ["manylinux-shared/cache:" + [t for t in tags if "-%s-base-" % kind in t][0]
                                  for kind in ("runtime", "build")]
                for ref in (runtime, build):
                    assert runtime.split(":")[1].startswith("manylinux_2_31_x86_64-runtime-base-")
                    assert docker("image", "inspect", target + ":" + ref.split(":")[1]).returncode != 0
                ids = [docker("image", "inspect", ref, "--format", "{{.Id}}").stdout for ref in (runtime, build)]
                # untagged (the image's layers keep them on the engine): the engine lacks the bases by their tags
                for ref in (runtime, build):
                    assert docker("rmi", ref).returncode == 0
                removed = [runtime, build]
            else:
                assert said(run.output, "bases from the artifact registry: runtime, build")
                assert [docker("image", "inspect", ref, "--format", "{{.Id}}").stdout for ref in (runtime, build)] == ids
                # the same build base id: the same component key, so probe-a comes from the registry
                assert said(run.output, "components from the artifact registry: probe-a")
    finally:
        for owner in owners:
            docker("rmi", image_of(owner))
        for log in logs:
            plan = log / "build-plan.json"
            if plan.is_file():
                for layer in json.loads(plan.read_text())["layers"]:
                    docker("rmi", "manylinux-shared/cache:manylinux_2_31_x86_64-layer-%s-%s"
                           % (layer["name"], layer["layer_key"][:16]))
        for ref in removed:
            docker("rmi", ref)
        docker("rmi", base)
