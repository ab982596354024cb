"""playbooks/prune.yml on the artifact registry (build_artifact_registry) against Debian's docker-registry: two
probe builds push their artifacts and records, a prune keeping the last build (prune_registry_keep=1) lists what
the first one alone used, a registry that refuses deletes is one line, a delete removes just that and what is kept
still pulls into an empty cache, and a registry that is down is one line while the local prune goes on.

Every prune here has a label prefix of its own (build_label_prefix) and its own artifact cache and cache
repository: it finds none of the engine's containers or cache images, only the registry's tags."""

import base64
import json
import re
import urllib.request
import uuid

import pytest
from conftest import ansible_playbook, docker, extra, free_port, serve_registry, stop_registry
from test_build_playbook import probe_build
from test_registry_cache import RECORD, api, image_of

ROLES = ["probe_a", "probe_b"]


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory, offline_base):
    """A registry allowing deletes and two builds pushing to a repository of it: probe-a and probe-b, then probe-b
    changed (its first artifact is the first build's alone). Yields the registry, the repository, the environment
    and the artifact tags of each build."""
    work = tmp_path_factory.mktemp("prune")
    (work / "registry").mkdir()
    proc, registry = serve_registry(work / "registry", delete=True)
    (work / "docker").mkdir()
    env = {"DOCKER_CONFIG": str(work / "docker")}
    logged_in(env, registry)
    repository = "itest-%s/cache" % uuid.uuid4().hex[:8]
    target = "%s/%s" % (registry["address"], repository)
    owners, used = [], []
    try:
        for number, value in enumerate(("1", "2")):
            owners.append("itest-" + uuid.uuid4().hex[:8])
            run = probe_build(work / "build", "itest-%s-%d" % (uuid.uuid4().hex[:8], number), owners[-1], offline_base,
                              ROLES, env=env, build_artifact_registry=target, probe_b_value=value)
            assert run.rc == 0, run.output[-3000:]
            plan = json.loads(next((work / "build" / "logs").glob("*-%d/build-plan.json" % number)).read_text())
            used.append(sorted("%s-%s" % (c["name"], c["key"][:20]) for c in plan["components"]))
        yield {"registry": registry, "work": work, "repository": repository, "target": target, "env": env,
               "used": used, "proc": proc}
    finally:
        for owner in owners:
            docker("rmi", image_of(owner))
        stop_registry(proc, registry["address"])


def logged_in(env, registry):
    """Add the registry's credentials to the Docker client configuration of `env`, as `docker login` does."""
    config = env["DOCKER_CONFIG"] + "/config.json"
    try:
        with open(config) as handle:
            found = json.load(handle)
    except FileNotFoundError:
        found = {"auths": {}}
    auth = base64.b64encode(("%s:%s" % (registry["user"], registry["password"])).encode()).decode()
    found["auths"][registry["address"]] = {"auth": auth}
    with open(config, "w") as handle:
        json.dump(found, handle)


def blob(builds, digest):
    registry = builds["registry"]
    auth = base64.b64encode(("%s:%s" % (registry["user"], registry["password"])).encode()).decode()
    request = urllib.request.Request("http://%s/v2/%s/blobs/%s" % (registry["address"], builds["repository"], digest),
                                     headers={"Authorization": "Basic " + auth})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def tags_of(builds):
    return sorted(api(builds["registry"], builds["repository"] + "/tags/list")["tags"])


def prune(builds, tmp_path, target=None, **values):
    """prune.yml finding nothing of the engine's (a label prefix, artifact cache and cache repository of its own);
    its lines as JSON, each on one line."""
    return ansible_playbook("playbooks/prune.yml", *extra(
        build_artifact_registry=target or builds["target"], build_label_prefix="itest-%s.x" % uuid.uuid4().hex[:8],
        build_artifact_cache=str(tmp_path / "artifacts"), build_cache_repository="itest-%s/cache" % uuid.uuid4().hex[:8],
        prune_registry_keep=1, **values), env=dict(builds["env"], ANSIBLE_CALLBACK_RESULT_FORMAT="json"))


def named(output, what):
    """The tags a line `<what> <registry>, ...: a, b` of the output names."""
    found = re.search(r"%s [^ ]+?(?:, [a-z ]+)?: ([^'\"\n]+)" % re.escape(what), output)
    assert found, output[-3000:]
    return sorted(found.group(1).split(", "))


def records(tags):
    return sorted(t for t in tags if re.fullmatch(RECORD, t))


def test_each_build_records_what_it_uses(two_builds):
    tags = tags_of(two_builds)
    first, second = two_builds["used"]
    assert len(set(first) - set(second)) == 1 and set(first) | set(second) <= set(tags)
    assert len(records(tags)) == 2
    manifest = api(two_builds["registry"], "%s/manifests/%s" % (two_builds["repository"], records(tags)[1]))
    assert manifest["artifactType"] == "application/vnd.manylinux-shared.build.v1"
    # the second build's: its components' artifacts and its bases
    record = blob(two_builds, manifest["layers"][0]["digest"])
    assert (record["policy"], record["arch"]) == ("manylinux_2_31", "x86_64")
    bases = [t for t in record["tags"] if t not in second]
    assert sorted(set(record["tags"]) - set(bases)) == second
    assert [re.sub("-[0-9a-f]{16}$", "", t) for t in bases] == [
        "manylinux_2_31_x86_64-build-base", "manylinux_2_31_x86_64-runtime-base"]


def test_a_prune_lists_what_the_last_build_did_not_use(two_builds, tmp_path):
    before = tags_of(two_builds)
    run = prune(two_builds, tmp_path)
    assert run.rc == 0, run.output[-3000:]
    first, second = two_builds["used"]
    assert named(run.output, "unused in the artifact registry") == sorted(
        set(first) - set(second) | {records(before)[0]})
    assert tags_of(two_builds) == before, "a list deletes nothing"
    assert two_builds["registry"]["password"] not in run.output


def test_a_registry_that_refuses_deletes_is_one_line(two_builds, tmp_path):
    # the same storage, served with deletes off (the registry's default)
    proc, refusing = serve_registry(two_builds["work"] / "registry", delete=False)
    logged_in(two_builds["env"], refusing)
    try:
        before = tags_of(two_builds)
        run = prune(two_builds, tmp_path, target="%s/%s" % (refusing["address"], two_builds["repository"]),
                    prune_registry_delete=True)
        assert run.rc == 0, run.output[-3000:]
        assert run.output.count("refuses deletes (HTTP 405") == 1, run.output[-3000:]
        assert "Traceback" not in run.output
        assert tags_of(two_builds) == before
    finally:
        stop_registry(proc, refusing["address"])


def test_a_delete_removes_what_the_last_build_did_not_use_and_the_rest_still_pulls(two_builds, tmp_path,
                                                                                   offline_base):
    before = tags_of(two_builds)
    first, second = two_builds["used"]
    run = prune(two_builds, tmp_path, prune_registry_delete=True)
    assert run.rc == 0, run.output[-3000:]
    gone = sorted(set(first) - set(second) | {records(before)[0]})
    assert named(run.output, "deleted from the artifact registry") == gone
    assert tags_of(two_builds) == sorted(set(before) - set(gone))
    # what is kept pulls into an empty cache: the second build again builds nothing
    owner = "itest-" + uuid.uuid4().hex[:8]
    again = probe_build(tmp_path / "again", "itest-" + uuid.uuid4().hex[:8], owner, offline_base, ROLES,
                        env=two_builds["env"], build_artifact_registry=two_builds["target"], probe_b_value="2")
    try:
        assert again.rc == 0, again.output[-3000:]
        assert "components from the artifact registry: probe-a, probe-b" in again.output
        assert "built: none" in again.output
    finally:
        docker("rmi", image_of(owner))


def test_a_registry_that_is_down_is_one_line_and_the_local_prune_goes_on(two_builds, tmp_path):
    (tmp_path / "artifacts" / "probe-z-00000000000000000000").mkdir(parents=True)
    run = prune(two_builds, tmp_path, target="127.0.0.1:%d/cache" % free_port(), prune_registry_delete=True)
    assert run.rc == 0, run.output[-3000:]
    assert run.output.count("is unreachable") == 1, run.output[-3000:]
    assert "Traceback" not in run.output
    # the local prune ran: the artifact no layer holds is gone
    assert not (tmp_path / "artifacts" / "probe-z-00000000000000000000").exists()
