"""The base images pinned by digest, against a real registry on 127.0.0.1 (conftest's `registry`: Debian's
docker-registry with htpasswd credentials). Seconds, no image build: the test pushes tiny images of its own
(`docker import` of a one-file tarball) and runs playbooks/update_sources.yml --tags bases on a copy of the
policy table, then pulls the pin as a build does (build_base_pull) and labels it (build_base_origin)."""

import base64
import io
import json
import os
import re
import subprocess
import tarfile
import urllib.request
import uuid

import pytest
import yaml
from conftest import ROOT, ansible_playbook, extra, free_port

POLICIES = os.path.join(ROOT, "inventories", "default", "group_vars", "all", "policies.yml")
UPSTREAM = "quay.io/pypa/manylinux2014_base:2025.11.10-3"
ACCEPT = ", ".join(["application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.oci.image.manifest.v1+json"])


def docker_with(config, *args, stdin=None):
    return subprocess.run(["docker", "--config", str(config), *args], input=stdin, capture_output=True, text=True)


def tiny_tarball(text):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = text.encode()
        info = tarfile.TarInfo("pin-probe")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def pins(registry, tmp_path):
    """A Docker client configuration logged in to the registry, a copy of the policy table whose manylinux2014
    base is <registry>/<owner>/base:1, and push(): a new tiny image under that tag, its digest as the push says."""
    config = tmp_path / "docker"
    config.mkdir()
    login = docker_with(config, "login", "-u", registry["user"], "--password-stdin", registry["address"],
                        stdin=registry["password"])
    assert login.returncode == 0, login.stderr
    name = "%s/itest-%s/base" % (registry["address"], uuid.uuid4().hex[:8])
    table = tmp_path / "policies.yml"
    table.write_text(open(POLICIES).read().replace("base_image: " + UPSTREAM, "base_image: %s:1" % name))
    images = []

    def push():
        imported = subprocess.run(["docker", "import", "-", name + ":1"], input=tiny_tarball(uuid.uuid4().hex),
                                  capture_output=True)
        assert imported.returncode == 0, imported.stderr
        images.append(imported.stdout.decode().strip())
        pushed = docker_with(config, "push", name + ":1")
        assert pushed.returncode == 0, pushed.stderr
        return re.search(r"digest: (sha256:[0-9a-f]{64})", pushed.stdout).group(1)

    try:
        yield {"config": config, "name": name, "table": table, "push": push}
    finally:
        for image in images:
            subprocess.run(["docker", "rmi", "-f", image], capture_output=True)


def registry_digest(registry, repository, tag):
    """The manifest digest of a tag, as the registry's HTTP API says it (not the module's client)."""
    auth = base64.b64encode(("%s:%s" % (registry["user"], registry["password"])).encode()).decode()
    request = urllib.request.Request("http://%s/v2/%s/manifests/%s" % (registry["address"], repository, tag),
                                     method="HEAD", headers={"Accept": ACCEPT, "Authorization": "Basic " + auth})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Docker-Content-Digest"]


def update(pins, registry, *args, env=None, table=None):
    environ = {"DOCKER_CONFIG": str(pins["config"]), "MANYLINUX_REGISTRY_USER": "", "MANYLINUX_REGISTRY_PASSWORD": ""}
    environ.update(env or {})
    return ansible_playbook("playbooks/update_sources.yml", "--tags", "bases", *args, *extra(
        update_sources_policies_file=str(table or pins["table"]), update_sources_base_policies=["manylinux2014"],
        update_sources_insecure_registries=[registry["address"]], build_image_registry=registry["address"]),
        env=environ)


def flat(output):
    """The output with the YAML callback's line wrapping undone."""
    return " ".join(output.split())


def base_of(table):
    return yaml.safe_load(table.read_text())["build_policy_table"]["manylinux2014"]["base_image"]


def changed_lines(before, after):
    return [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]


def test_a_base_is_pinned_to_its_tags_digest_and_follows_a_moved_tag(pins, registry):
    table, name = pins["table"], pins["name"]
    first = pins["push"]()
    assert first == registry_digest(registry, name.split("/", 1)[1], "1")
    before = table.read_text()
    # credentials from the Docker client configuration `docker login` wrote
    run = update(pins, registry)
    assert run.rc == 0, run.output[-3000:]
    assert base_of(table) == "%s:1@%s" % (name, first)
    assert changed_lines(before, table.read_text()) == [
        ("    base_image: %s:1" % name, "    base_image: %s:1@%s" % (name, first))]
    assert registry["password"] not in run.output
    pinned = table.read_text()
    # a second run changes nothing
    again = update(pins, registry)
    assert again.rc == 0 and "changed=0" in flat(again.output), again.output[-3000:]
    assert "manylinux2014: %s:1@%s current" % (name, first) in flat(again.output)
    assert table.read_text() == pinned
    # the tag moves: --check only says so, a run follows it
    second = pins["push"]()
    assert second != first and second == registry_digest(registry, name.split("/", 1)[1], "1")
    checked = update(pins, registry, "--check")
    assert checked.rc == 0, checked.output[-3000:]
    assert "would be moved to %s:1@%s" % (name, second) in flat(checked.output)
    assert table.read_text() == pinned
    # now with the environment's credentials for build_image_registry, and no Docker config
    empty = pins["config"].parent / "empty-docker-config"
    empty.mkdir()
    moved = update(pins, registry, env={"DOCKER_CONFIG": str(empty), "MANYLINUX_REGISTRY_USER": registry["user"],
                                        "MANYLINUX_REGISTRY_PASSWORD": registry["password"]})
    assert moved.rc == 0, moved.output[-3000:]
    assert base_of(table) == "%s:1@%s" % (name, second)
    assert changed_lines(pinned, table.read_text()) == [
        ("    base_image: %s:1@%s" % (name, first), "    base_image: %s:1@%s" % (name, second))]
    assert registry["password"] not in moved.output


def test_a_registry_that_refuses_is_down_or_lacks_the_tag_rewrites_nothing(pins, registry, tmp_path):
    table, name = pins["table"], pins["name"]
    pins["push"]()
    before = table.read_text()
    empty = tmp_path / "empty-docker-config"
    empty.mkdir()
    refused = update(pins, registry, env={"DOCKER_CONFIG": str(empty)})
    assert refused.rc != 0
    assert "nothing was rewritten: manylinux2014: %s:1: the registry %s answered: manifest 1 of %s: HTTP 401" % (
        name, registry["address"], name.split("/", 1)[1]) in flat(refused.output)
    table.write_text(before.replace("%s:1" % name, "%s:2" % name))
    missing = update(pins, registry)
    assert missing.rc != 0
    assert "the registry %s has no tag 2 in %s" % (registry["address"], name.split("/", 1)[1]) \
        in flat(missing.output)
    down = "127.0.0.1:%d" % free_port()
    table.write_text(before.replace(registry["address"], down))
    unreachable = table.read_text()
    run = ansible_playbook("playbooks/update_sources.yml", "--tags", "bases", *extra(
        update_sources_policies_file=str(table), update_sources_base_policies=["manylinux2014"],
        update_sources_insecure_registries=[down]), env={"DOCKER_CONFIG": str(pins["config"])})
    assert run.rc != 0
    assert "manylinux2014: %s:1: cannot reach the registry %s (http://%s)" % (name.replace(registry["address"], down),
                                                                               down, down) \
        in flat(run.output)
    assert table.read_text() == unreachable


LABELS = ["org.opencontainers.image.base.name", "org.opencontainers.image.base.digest",
          "io.github.manylinux-shared.base-digest-source"]


def pull_as_a_build(work, base_image, env=None):
    """The start play's pull (build_base_pull) and the base labels of build_image_labels (build_base_origin), as
    the group vars make them: {pull, changed, origin, labels}."""
    playbook, result = work / "pull.yml", work / "pulled.json"
    playbook.write_text(
        "- name: Pull the base as a build does\n  hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: Provide the base image\n      community.docker.docker_image:\n"
        "        name: \"{{ build_base_pull }}\"\n        source: pull\n      register: __build_base_image\n"
        "    - name: Write what was pulled\n      ansible.builtin.copy:\n"
        "        content: \"{{ {'pull': build_base_pull, 'changed': __build_base_image.changed,"
        " 'origin': build_base_origin, 'labels': build_image_labels} | to_json }}\"\n"
        "        dest: %s\n        mode: '0644'\n" % result)
    run = ansible_playbook(str(playbook), *extra(base_image=base_image, policy="manylinux_2_31", arch="x86_64"),
                           env=env)
    assert run.rc == 0, run.output[-3000:]
    pulled = json.loads(result.read_text())
    pulled["labels"] = {key: pulled["labels"].get(key) for key in LABELS}
    return pulled


def test_a_build_pulls_the_pin_by_digest_and_labels_it_with_that_digest(pins, registry):
    name, digest = pins["name"], pins["push"]()
    pinned = "%s:1@%s" % (name, digest)
    subprocess.run(["docker", "rmi", name + ":1"], capture_output=True)
    env = {"DOCKER_CONFIG": str(pins["config"])}
    try:
        first = pull_as_a_build(pins["config"].parent, pinned, env)
        assert first["pull"] == "%s@%s" % (name, digest)
        assert first["changed"] is True
        assert first["origin"] == {"digest": digest, "source": "registry"}
        assert first["labels"] == dict(zip(LABELS, [pinned, digest, "registry"]))
        # the engine has it now: found by name@digest, not pulled again
        assert pull_as_a_build(pins["config"].parent, pinned, env)["changed"] is False
    finally:
        subprocess.run(["docker", "rmi", "%s@%s" % (name, digest)], capture_output=True)


def test_a_base_made_here_is_labelled_with_its_own_image_id(tmp_path):
    """A base no registry gave (as the offline ones): never pulled, labelled local with its image id."""
    name = "itest-%s/local-base:1" % uuid.uuid4().hex[:8]
    imported = subprocess.run(["docker", "import", "-", name], input=tiny_tarball(uuid.uuid4().hex),
                              capture_output=True)
    assert imported.returncode == 0, imported.stderr
    image_id = imported.stdout.decode().strip()
    try:
        pulled = pull_as_a_build(tmp_path, name)
        assert pulled["pull"] == name and pulled["changed"] is False
        assert pulled["origin"] == {"digest": image_id, "source": "local"}
        assert pulled["labels"] == dict(zip(LABELS, [name, image_id, "local"]))
    finally:
        subprocess.run(["docker", "rmi", "-f", image_id], capture_output=True)
