"""playbooks/build.yml end to end on its failure paths: bad input, bad sources, a failing role.

These start real containers on the offline Debian 11 base; the successful path
is the molecule scenario.
"""

import hashlib
import os
import shutil

import pytest
from conftest import ansible_playbook, containers_of, docker, extra, images_of

SOURCES = os.environ.get("MANYLINUX_SOURCE_CACHE", "")


@pytest.mark.parametrize("args,expected", [
    (["-e", "policy=bogus", "-e", "arch=x86_64"],
     ["unknown policy 'bogus'", "manylinux2014", "manylinux_2_28", "manylinux_2_31",
      "manylinux_2_34", "manylinux_2_39", "musllinux_1_2"]),
    (["-e", "policy=manylinux_2_28", "-e", "arch=sparc"], ["unknown arch 'sparc'", "riscv64"]),
    (["-e", "policy=manylinux_2_28", "-e", "arch=i686"], ["unsupported pair: manylinux_2_28 has no i686"]),
    (["-e", "arch=x86_64"], ["no policy given"]),
])
def test_bad_request_fails_fast_before_any_container(args, expected, build_id):
    run = ansible_playbook("playbooks/build.yml", *args, *extra(build_id=build_id))
    assert run.rc != 0
    assert run.seconds < 10, "validation took %.1f s" % run.seconds
    for text in expected:
        assert text in run.output
    assert containers_of(build_id) == []


def test_unknown_role_fails_before_any_container(build_id, offline_base):
    run = ansible_playbook("playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_roles=["no_such_role"]))
    assert run.rc != 0 and "no_such_role" in run.output
    assert containers_of(build_id) == []


def test_bad_role_variable_fails_before_any_container(build_id, offline_base):
    run = ansible_playbook("playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_roles=["python_tools"], python_tools_sources="not-a-list"))
    assert run.rc != 0 and "python_tools_sources" in run.output
    assert containers_of(build_id) == []


@pytest.mark.skipif(not os.path.isfile(os.path.join(SOURCES, "openssl-3.5.7.tar.gz")),
                    reason="needs the offline source cache (MANYLINUX_SOURCE_CACHE) with openssl-3.5.7.tar.gz")
def test_tampered_tarball_stops_the_build(tmp_path, build_id, image_owner, offline_base):
    cache = tmp_path / "cache"
    cache.mkdir()
    tarball = cache / "openssl-3.5.7.tar.gz"
    shutil.copyfile(os.path.join(SOURCES, "openssl-3.5.7.tar.gz"), tarball)
    with open(tarball, "r+b") as handle:
        handle.seek(1000)
        handle.write(b"tampered")
    actual = hashlib.sha256(tarball.read_bytes()).hexdigest()
    run = ansible_playbook("playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_image_owner=image_owner, build_source_cache=str(cache), build_roles=["openssl35"]))
    assert run.rc != 0
    assert "openssl-3.5.7.tar.gz" in run.output
    assert "a8c0d28a529ca480f9f36cf5792e2cd21984552a3c8e4aa11a24aa31aeac98e8" in run.output
    assert actual in run.output
    assert not tarball.exists(), "the bad file must not stay in the cache"
    assert containers_of(build_id) == []
    assert images_of(image_owner) == []


def test_failing_role_tags_nothing_and_removes_the_container(tmp_path, build_id, image_owner, offline_base):
    run = ansible_playbook("playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_image_owner=image_owner, build_log_root=str(tmp_path), build_roles=["failing_probe"]))
    assert run.rc != 0
    assert "no image was tagged" in run.output
    assert "failing-probe-1.0 make failed (exit 7" in run.output
    assert "probe: fatal error" in run.output and "probe output line 60" in run.output
    assert "logs of every configure/make step: %s/%s" % (tmp_path, build_id) in run.output
    log = tmp_path / build_id / "failing-probe-1.0_make.log"
    assert log.is_file() and "probe output line 1\n" in log.read_text()
    assert containers_of(build_id) == []
    assert images_of(image_owner) == []


def test_failed_build_can_keep_its_container(build_id, image_owner, offline_base):
    run = ansible_playbook("playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_image_owner=image_owner, build_keep_container=True, build_roles=["failing_probe"]))
    try:
        assert run.rc != 0
        assert containers_of(build_id) == ["manylinux-build-" + build_id]
        assert "docker exec -it manylinux-build-%s /bin/sh" % build_id in run.output
        assert images_of(image_owner) == []
    finally:
        docker("rm", "-f", "manylinux-build-" + build_id)


def test_foreign_arch_without_emulation_says_how_to_enable_it(tmp_path, build_id):
    # An empty binfmt directory stands for a host with no qemu-user handlers.
    run = ansible_playbook("playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="armv7l", build_id=build_id, build_binfmt_dir=str(tmp_path)))
    assert run.rc != 0
    assert run.seconds < 10
    assert "armv7l containers need emulation" in run.output
    assert "qemu-arm" in run.output and "make emulation" in run.output
    assert containers_of(build_id) == []


def test_disabled_handler_counts_as_missing(tmp_path, build_id):
    (tmp_path / "qemu-arm").write_text("disabled\ninterpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\nflags: PF\n")
    run = ansible_playbook("playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="armv7l", build_id=build_id, build_binfmt_dir=str(tmp_path)))
    assert run.rc != 0 and "need emulation" in run.output


def test_failure_snapshot_can_be_entered(build_id, image_owner, offline_base):
    run = ansible_playbook("playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_image_owner=image_owner, build_snapshot_on_failure=True, build_roles=["failing_probe"]))
    snapshots = images_of(image_owner)
    try:
        assert run.rc != 0
        assert len(snapshots) == 1 and "-failed-" in snapshots[0]
        assert "docker run -it --rm --entrypoint /bin/sh %s" % snapshots[0] in run.output
        assert containers_of(build_id) == []
        # the snapshot holds the failed step's state
        listing = docker("run", "--rm", "--entrypoint", "/bin/sh", snapshots[0], "-c",
                         "ls -R /tmp/manylinux-build/logs")
        assert "failing-probe-1.0_make.log" in listing.stdout
    finally:
        for ref in snapshots:
            docker("rmi", ref)


def _stage_lines(output):
    cached = [l for l in output.splitlines() if "cached, skipped:" in l]
    apply = [l for l in output.splitlines() if "to apply:" in l]
    assert cached and apply, output[-3000:]
    return cached[0].split("cached, skipped:")[1].strip(" '\","), apply[0].split("to apply:")[1].strip(" '\",")


def test_stage_cache_rebuilds_only_what_changed(build_id, image_owner, offline_base):
    unique = build_id  # a value no earlier run used: the first build cannot hit the cache
    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner

    def build(**values):
        run = ansible_playbook("playbooks/build.yml", *extra(
            policy="manylinux_2_31", arch="x86_64", base_image=offline_base,
            build_image_owner=image_owner, build_roles=["probe_a", "probe_b"], probe_a_value=unique, **values))
        assert run.rc == 0, run.output[-3000:]
        values = docker("run", "--rm", ref, "cat", "/opt/_internal/probe_a/value", "/opt/_internal/probe_b/value")
        build.output = run.output
        return _stage_lines(run.output), values.stdout.split()

    try:
        assert build(probe_b_value="one") == (("none", "probe_a, probe_b"), [unique, "one"])
        first_image = docker("image", "inspect", ref, "--format", "{{.Id}}").stdout
        # the same build again changes nothing: no container, no commit, the same image
        assert build(probe_b_value="one") == (("probe_a, probe_b", "none"), [unique, "one"])
        assert "is up to date" in build.output
        assert "changed=0 " in build.output.split("PLAY RECAP")[1]
        assert docker("image", "inspect", ref, "--format", "{{.Id}}").stdout == first_image
        assert build(probe_b_value="two") == (("probe_a", "probe_b"), [unique, "two"])
        assert build(probe_b_value="two", no_cache=True) == (("none", "probe_a, probe_b"), [unique, "two"])
        stages = docker("images", "--filter", "label=io.github.manylinux-shared.stage-role=probe_b",
                        "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        stages = [s for s in stages if s != "<none>:<none>"]
        assert len(stages) >= 2
        assert all(s.startswith("manylinux-shared/stage:manylinux_2_31_x86_64-probe-b-") for s in stages)
        # pruning keeps only the stages a tagged image is built on: here the final image's parent
        prune = ansible_playbook("playbooks/prune_stages.yml")
        assert prune.rc == 0, prune.output[-3000:]
        left = docker("images", "--filter", "label=io.github.manylinux-shared.stage-role=probe_b",
                      "--format", "{{.ID}} {{.Repository}}").stdout.splitlines()
        left = [line.split()[0] for line in left if "manylinux-shared/stage" in line]
        parent = docker("image", "inspect", ref, "--format", "{{.Parent}}").stdout.strip()
        assert len(left) == 1 and parent.startswith("sha256:" + left[0])
    finally:
        docker("rmi", ref)
