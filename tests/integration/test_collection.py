"""The repository as a collection: built, installed into a fresh collections path, and its build playbook run
by FQCN from a directory outside the repository (no ansible.cfg, no inventory of the project's) for a real,
small build (probe_a on the offline base), as the other build tests do."""

import glob
import json
import os
import subprocess
import sys

from conftest import LABEL, ROOT, docker, extra, images_of

BIN = os.path.dirname(sys.executable)


def run(args, cwd, env):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def test_the_installed_collection_builds_an_image_from_anywhere(tmp_path, build_id, image_owner, offline_base):
    # nothing of the repository's configuration: not its ansible.cfg, not its collections/
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    collections = tmp_path / "collections"
    environ.update(ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(collections),
                   # the probe roles only; the content and engine roles are the collection's
                   ANSIBLE_ROLES_PATH=os.path.join(ROOT, "tests", "integration", "roles"))
    built = run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), ROOT],
                tmp_path, environ)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball, = glob.glob(str(tmp_path / "manylinux_shared-factory-*.tar.gz"))
    # --offline: the dependencies (community.docker, community.general) are those ansible carries
    installed = run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline", "-p", str(collections),
                     tarball], tmp_path, environ)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    home = collections / "ansible_collections" / "manylinux_shared" / "factory"
    assert (home / "playbooks" / "build.yml").is_file() and not (home / "tests").exists()
    assert not (home / "collections").exists(), "the repository's link to itself must stay out"

    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner
    playbook = run([os.path.join(BIN, "ansible-playbook"), "manylinux_shared.factory.build",
                    "-e", "policy=manylinux_2_31", "-e", "arch=x86_64", *extra(
                        base_image=offline_base, build_id=build_id, build_image_owner=image_owner,
                        build_log_root=str(tmp_path / "logs"), build_artifact_cache=str(tmp_path / "artifacts"),
                        build_roles=["probe_a"], probe_a_value=build_id)], tmp_path, environ)
    try:
        output = playbook.stdout + playbook.stderr
        assert playbook.returncode == 0, output[-3000:]
        labels = json.loads(docker("image", "inspect", ref, "--format", "{{json .Config.Labels}}").stdout)
        assert labels["%s.policy" % LABEL] == "manylinux_2_31"
        assert labels["%s.probe-a" % LABEL] == "1.0"
        assert labels["org.opencontainers.image.base.name"] == offline_base
        assert labels["org.opencontainers.image.version"] == "latest"
        # the data came from the collection itself (roles/factory_defaults): the source label's default
        assert labels["org.opencontainers.image.source"] == "https://github.com/%s/manylinux-shared" % image_owner
        value = docker("run", "--rm", ref, "cat", "/opt/_internal/probe_a/value")
        assert value.stdout.strip() == build_id
        assert (tmp_path / "logs" / build_id / "build-plan.json").is_file()
    finally:
        for image in images_of(image_owner):
            docker("rmi", image)
        # and the layer it made (its key holds probe_a_value, this build's id: no other build shares it)
        plan = tmp_path / "logs" / build_id / "build-plan.json"
        layers = json.loads(plan.read_text())["layers"] if plan.is_file() else []
        ends = ["-layer-%s-%s" % (layer["name"], layer["layer_key"][:16]) for layer in layers]
        for image in docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split():
            if any(image.endswith(end) for end in ends):
                docker("rmi", image)
