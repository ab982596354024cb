"""playbooks/build.yml end to end on its failure paths: bad input, bad sources, a failing role.

These start real containers on the offline Debian 11 base; the successful path
is the molecule scenario.
"""

import concurrent.futures
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import pytest
from shlex import quote as shlex_quote
from conftest import ROOT, ansible_playbook, ansible_playbook_started, containers_of, docker, extra, images_of

SOURCES = os.environ.get("MANYLINUX_SOURCE_CACHE", "")


@pytest.mark.parametrize("args,expected", [
    (["-e", "policy=bogus", "-e", "arch=x86_64"],
     ["unknown policy 'bogus'", "manylinux2014", "manylinux_2_28", "manylinux_2_31",
      "manylinux_2_34", "manylinux_2_39", "musllinux_1_2"]),
    (["-e", "policy=manylinux_2_28", "-e", "arch=sparc"], ["unknown arch 'sparc'", "riscv64"]),
    (["-e", "policy=manylinux_2_28", "-e", "arch=i686"], ["unsupported pair: manylinux_2_28 has no i686"]),
    (["-e", "arch=x86_64"], ["no policy given"]),
    (["-e", "policy=manylinux_2_31", "-e", "arch=x86_64", "-e", '{"build_image_tag": "bad tag"}'],
     ["build_image_tag='bad tag' is not up to 128 letters"]),
    (["-e", "policy=manylinux_2_31", "-e", "arch=x86_64", "-e", '{"build_image_owner": "Bad Owner"}'],
     ["build_image_owner='Bad Owner' is not lowercase"]),
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
        build_roles=["python_tools"], python_tools_packages="not-a-list"))
    assert run.rc != 0 and "python_tools_packages" in run.output
    assert containers_of(build_id) == []


def test_bad_component_entry_fails_before_any_component_container(build_id, offline_base, tmp_path):
    run = ansible_playbook("playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_artifact_cache=str(tmp_path), build_roles=["probe_b"]))
    assert run.rc != 0
    assert "component probe-b needs /opt/_internal/probe_a/value, which no component installs" in run.output
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


def test_a_tarball_changed_after_the_start_is_caught_where_it_is_used(tmp_path, build_id, image_owner, offline_base):
    cache = tmp_path / "cache"
    cache.mkdir()
    tarball = cache / "mpdecimal-4.0.1.tar.gz"
    shutil.copyfile(os.path.join(SOURCES, "mpdecimal-4.0.1.tar.gz"), tarball)
    # one at a time: the second component unpacks the tarball after the first has slept
    log = open(tmp_path / "build.log", "w")
    proc = ansible_playbook_started("playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_image_owner=image_owner, build_log_root=str(tmp_path / "logs"), build_source_cache=str(cache),
        build_artifact_cache=str(tmp_path / "artifacts"), build_roles=["sleep_probe"], build_parallel=1,
        sleep_probe_count=2, sleep_probe_seconds=20, sleep_probe_source="mpdecimal-4.0.1", sleep_probe_tag=build_id),
        log=log)
    try:
        deadline = time.monotonic() + 300
        while not any(docker("exec", "manylinux-component-%s-sleep-%d" % (build_id, n), "test", "-f",
                             "/opt/_internal/sleep_probe/sleep-%d/start" % n).returncode == 0 for n in (0, 1)):
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "build.log").read_text()[-3000:]
            time.sleep(1)
        # the start play verified it; now something rewrites it in the shared cache
        tarball.write_bytes(tarball.read_bytes()[:-100] + b"x" * 100)
        assert proc.wait(timeout=300) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    output = (tmp_path / "build.log").read_text()
    assert "Bring in the component's sources and files" in output
    assert "96d33abb4bb0070c7be0fed4246cd38416188325f820468214471938545b1ac8" in output
    assert "no image was tagged" in output
    assert not tarball.exists(), "the bad file must not stay in the cache"
    assert containers_of(build_id) == []
    assert images_of(image_owner) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a read-only tmpfs (root)")
def test_read_only_cache_names_every_missing_file_before_any_container(tmp_path, build_id, offline_base):
    cache = tmp_path / "read-only"
    cache.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(cache)], check=True)
    try:
        run = ansible_playbook("playbooks/build.yml", *extra(
            policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
            build_source_cache=str(cache), build_roles=["toolchain", "openssl35"]))
    finally:
        subprocess.run(["umount", str(cache)], check=True)
    assert run.rc != 0
    assert run.seconds < 15, "the check took %.1f s" % run.seconds
    assert "the source cache %s cannot be written (Read-only file system)" % cache in run.output
    for name in ("openssl-3.5.7.tar.gz (openssl-3.5.7)", "zstd-", "mpdecimal-", "tcl"):
        assert name in run.output
    assert ".partial-" not in run.output
    assert containers_of(build_id) == []


def probe_build(tmp_path, build_id, image_owner, offline_base, roles, env=None, **values):
    values.setdefault("build_artifact_cache", str(tmp_path / "artifacts"))
    return ansible_playbook("playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_image_owner=image_owner, build_log_root=str(tmp_path / "logs"), build_roles=roles, **values), env=env)


def test_failing_component_tags_nothing_and_keeps_the_others(tmp_path, build_id, image_owner, offline_base):
    run = probe_build(tmp_path, build_id, image_owner, offline_base, ["probe_a", "failing_probe"])
    assert run.rc != 0
    assert "no image was tagged" in run.output
    assert "component failing-probe failed" in run.output
    assert "failing-probe make failed (exit 7" in run.output
    assert "probe: fatal error" in run.output and "probe output line 60" in run.output
    assert "logs of every configure/make step: %s/logs/%s" % (tmp_path, build_id) in run.output
    log = tmp_path / "logs" / build_id / "failing-probe_make.log"
    assert log.is_file() and "probe output line 1\n" in log.read_text()
    assert containers_of(build_id) == []
    assert images_of(image_owner) == []
    # probe-a built, and stays in the artifact cache; nothing of the failed one does
    artifacts = sorted(os.listdir(tmp_path / "artifacts"))
    assert len(artifacts) == 1 and artifacts[0].startswith("probe-a-"), artifacts
    # fixed, the next build makes only what is missing
    rerun = probe_build(tmp_path, build_id + "-2", image_owner, offline_base, ["probe_a", "failing_probe"],
                        failing_probe_fails=False)
    try:
        assert rerun.rc == 0, rerun.output[-3000:]
        assert "components from the artifact cache: probe-a" in rerun.output
        assert "built: failing-probe" in rerun.output
    finally:
        docker("rmi", "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner)


def test_failed_build_can_keep_its_container(tmp_path, build_id, image_owner, offline_base):
    run = probe_build(tmp_path, build_id, image_owner, offline_base, ["failing_probe"], build_keep_container=True)
    name = "manylinux-component-%s-failing-probe" % build_id
    try:
        assert run.rc != 0
        assert containers_of(build_id) == [name]
        assert "docker exec -it %s /bin/sh" % name in run.output
        assert images_of(image_owner) == []
    finally:
        docker("rm", "-f", name)


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


def _layers_holding(ref, needle):
    """How many layers of `ref` (docker save) hold `needle` anywhere in their bytes."""
    save = subprocess.run(["docker", "save", ref], capture_output=True, check=True).stdout
    found = 0
    with tarfile.open(fileobj=io.BytesIO(save)) as image:
        for member in image.getmembers():
            if member.name.endswith("layer.tar") and needle in image.extractfile(member).read():
                found += 1
    return found


# With pipelining the next task fails (no container to exec in); without, making
# its remote temporary directory fails first and the host is UNREACHABLE, which
# no rescue sees: both end as a failed build.
@pytest.mark.parametrize("where,pipelining,seen", [
    ("main", "true", "is not running"),
    ("main", "false", "UNREACHABLE"),
    ("runtime_base", "false", "UNREACHABLE"),
])
def test_a_container_stopped_between_tasks_is_cleaned_up_as_a_failure(tmp_path, build_id, image_owner,
                                                                      offline_base, where, pipelining, seen):
    # stopping_probe_in keys the bases, and a stopped bases container commits none: it always runs
    run = probe_build(tmp_path, build_id, image_owner, offline_base, ["probe_a", "stopping_probe"],
                      env={"ANSIBLE_PIPELINING": pipelining}, stopping_probe_in=where)
    assert run.rc != 0
    assert seen in run.output
    assert "Build %s failed, no image was tagged" % build_id in run.output
    assert "Logs: %s/logs/%s" % (tmp_path, build_id) in run.output
    assert containers_of(build_id) == []
    assert images_of(image_owner) == []


def test_a_full_disk_under_the_temporary_directory_is_cleaned_up_as_a_failure(tmp_path, build_id, image_owner,
                                                                            offline_base):
    # remote_tmp on the build container's 64 MiB /dev/shm, which filling_probe fills
    run = probe_build(tmp_path, build_id, image_owner, offline_base, ["probe_a", "filling_probe"],
                      env={"ANSIBLE_REMOTE_TMP": "/dev/shm/ansible-tmp"})
    assert run.rc != 0
    assert "No space left on device" in run.output, run.output[-3000:]
    assert "Build %s failed, no image was tagged" % build_id in run.output
    assert "Logs: %s/logs/%s" % (tmp_path, build_id) in run.output
    assert containers_of(build_id) == []
    assert images_of(image_owner) == []


def _docker_shim(tmp_path, command, undo):
    """A `docker` first on PATH that runs the shell line `undo` (with $DOCKER the real CLI) just before
    `docker <command>`, then the command: what the command needs is gone when it runs, as when another job
    removes it."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "docker").write_text('#!/bin/sh\nDOCKER=%s\nif [ "$1" = %s ]; then %s; fi\nexec "$DOCKER" "$@"\n' % (
        shlex_quote(shutil.which("docker")), command, undo))
    (shim / "docker").chmod(0o755)
    return {"PATH": "%s:%s" % (shim, os.environ["PATH"])}


@pytest.mark.parametrize("command,undo,seen", [
    # the container is gone when it is committed (it is the last argument)
    ("commit", 'for last; do :; done; "$DOCKER" rm -f "$last" >/dev/null', "Commit the build container"),
    # the committed image is gone when it is tagged
    ("tag", '"$DOCKER" rmi -f "$2" >/dev/null', "Tag the image"),
])
def test_a_failed_commit_or_tag_tags_nothing_and_leaves_nothing(tmp_path, build_id, image_owner, offline_base,
                                                                command, undo, seen):
    run = probe_build(tmp_path, build_id, image_owner, offline_base, ["probe_a"],
                      env=_docker_shim(tmp_path, command, undo))
    assert run.rc != 0
    assert "Build %s failed, no image was tagged" % build_id in run.output, run.output[-3000:]
    assert seen in run.output
    assert containers_of(build_id) == []
    assert images_of(image_owner) == []


def test_failure_snapshot_stays_out_of_the_cache_and_holds_no_ca_bundle(tmp_path, build_id, image_owner,
                                                                        offline_base):
    marker = ("not a real certificate %s" % build_id).encode()
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(b"-----BEGIN CERTIFICATE-----\n" + marker + b"\n-----END CERTIFICATE-----\n")
    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner
    roles = ["probe_a", "failing_probe"]
    run = probe_build(tmp_path, build_id, image_owner, offline_base, roles, probe_a_value=build_id,
                      build_snapshot_on_failure=True, build_ca_bundle=str(bundle))
    snapshot = "manylinux-shared/failed:%s-failing-probe" % build_id
    try:
        assert run.rc != 0
        assert "docker run -it --rm --entrypoint /bin/sh %s" % snapshot in run.output
        assert images_of(image_owner) == [], "a snapshot is never in the image's repository"
        assert containers_of(build_id) == []
        labels = json.loads(docker("image", "inspect", snapshot, "--format", "{{json .Config.Labels}}").stdout)
        assert not labels.get("io.github.manylinux-shared.cache-key"), "a snapshot is never a cache image"
        # the snapshot holds the failed step's state, and no layer of it the CA bundle
        listing = docker("run", "--rm", "--entrypoint", "/bin/sh", snapshot, "-c", "ls -R /tmp/manylinux-build/logs")
        assert "failing-probe_make.log" in listing.stdout
        assert _layers_holding(snapshot, marker) == 0
        # fixed, the rebuild starts from the artifact of probe-a, never from the snapshot
        again = probe_build(tmp_path, build_id + "-2", image_owner, offline_base, roles, probe_a_value=build_id,
                            failing_probe_fails=False, build_ca_bundle=str(bundle))
        assert again.rc == 0, again.output[-3000:]
        assert "components from the artifact cache: probe-a" in again.output
        assert "built: failing-probe" in again.output
        assert _layers_holding(ref, marker) == 0
        for artifact in (tmp_path / "artifacts").iterdir():
            for path in artifact.iterdir():
                assert marker not in path.read_bytes(), path
    finally:
        docker("rmi", snapshot)
        docker("rmi", ref)


@pytest.mark.long
def test_two_identical_builds_at_once_both_succeed(tmp_path, image_owner, offline_base):
    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner
    values = dict(policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_image_owner=image_owner,
                  build_log_root=str(tmp_path / "logs"), build_roles=["probe_a", "probe_b"],
                  build_artifact_cache=str(tmp_path / "artifacts"), probe_a_value=image_owner, probe_b_value="twin")
    ids = [image_owner + "-twin-%d" % number for number in (1, 2)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda build_id: ansible_playbook("playbooks/build.yml",
                                                               *extra(build_id=build_id, **values)), ids))
    try:
        for run in runs:
            assert run.rc == 0, run.output[-3000:]
        assert _probe_values(ref)[:2] == [image_owner, "twin"]
        for build_id in ids:
            assert containers_of(build_id) == []
        # one artifact per component, whole: the second store of the same key found the first
        names = sorted(name.rsplit("-", 1)[0] for name in os.listdir(tmp_path / "artifacts"))
        assert names == ["probe-a", "probe-b"], names
        third = ansible_playbook("playbooks/build.yml", *extra(build_id=image_owner + "-twin-3", **values))
        assert third.rc == 0 and "is up to date" in third.output, third.output[-3000:]
    finally:
        docker("rmi", ref)


def _probe_values(ref):
    out = docker("run", "--rm", ref, "sh", "-c", "cd /opt/_internal && cat probe_a/value probe_b/value "
                 "probe_b/built-on probe_a/main")
    return out.stdout.split()


def _built(output):
    lines = [line for line in output.splitlines() if "built: " in line and "msg" not in line]
    return lines[-1].split("built: ", 1)[1].split(";")[0].strip(" '\",") if lines else ""


def test_wheels_come_from_the_controller_and_a_component_has_no_network(tmp_path, build_id, image_owner,
                                                                          offline_base):
    cache = tmp_path / "wheels"
    ca = "/etc/ssl/certs/ca-certificates.crt"
    values = dict(build_wheel_cache=str(cache), build_ca_bundle=ca if os.path.isfile(ca) else "")
    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner
    run = probe_build(tmp_path, build_id, image_owner, offline_base, ["wheel_probe"], **values)
    try:
        assert run.rc == 0, run.output[-3000:]
        assert {"pip-26.0.1-py3-none-any.whl", "packaging-26.3-py3-none-any.whl"} <= set(os.listdir(cache))
        inside = docker("run", "--rm", "--entrypoint", "/bin/sh", ref, "-c",
                        "ls /opt/_internal/wheel_probe; cat /opt/_internal/wheel_probe/interfaces")
        assert "packaging" in inside.stdout.split(), inside.stdout + inside.stderr
        # the component's container had only the loopback device
        assert inside.stdout.split()[-1:] == ["lo"] and "eth0" not in inside.stdout, inside.stdout
        assert docker("run", "--rm", "--entrypoint", "/bin/sh", ref, "-c",
                      "test ! -e /tmp/manylinux-build").returncode == 0
        # the SBOM, beside the logs and in the image: the component and the wheel it installed, by its hash
        sbom_text = (tmp_path / "logs" / build_id / "sbom.cdx.json").read_text()
        assert docker("run", "--rm", "--entrypoint", "cat", ref, "/opt/_internal/sbom.cdx.json").stdout == sbom_text
        listed = {c["bom-ref"]: c for c in json.loads(sbom_text)["components"]}
        assert listed["source:wheel-probe"]["version"] == "1.0"
        wheel = hashlib.sha256((cache / "packaging-26.3-py3-none-any.whl").read_bytes()).hexdigest()
        assert [c["hashes"] for c in listed.values() if c["name"] == "packaging"] == [
            [{"alg": "SHA-256", "content": wheel}]]
        assert "os:libc6:amd64" in listed
        # an index that does not answer: the filled cache is enough
        offline = dict(values, build_pip_index_url="http://127.0.0.1:9/simple", no_cache=True)
        again = probe_build(tmp_path, build_id + "-2", image_owner, offline_base, ["wheel_probe"], **offline)
        assert again.rc == 0, again.output[-3000:]
        assert "built: wheel-probe" in again.output
        # a damaged wheel is no wheel: offline, the build stops before any container, naming the file
        (cache / "packaging-26.3-py3-none-any.whl").write_bytes(b"damaged")
        damaged = probe_build(tmp_path, build_id + "-3", image_owner, offline_base, ["wheel_probe"], **offline)
        assert damaged.rc != 0
        assert "wheel_probe/files/requirements.txt: no wheels for Python 3.9 on manylinux_2_31_x86_64" in damaged.output
        assert containers_of(build_id + "-3") == []
    finally:
        docker("rmi", ref)


def test_a_long_step_shows_a_heartbeat_and_a_short_one_none(tmp_path, build_id, image_owner, offline_base):
    run = probe_build(tmp_path, build_id, image_owner, offline_base, ["probe_a", "sleep_probe"],
                      env={"MANYLINUX_HEARTBEAT_SECONDS": "2"}, sleep_probe_count=1, sleep_probe_seconds=9)
    try:
        assert run.rc == 0, run.output[-3000:]
        beats = [line for line in run.output.splitlines() if ": running for " in line]
        host = "manylinux-component-%s-sleep-0" % build_id
        # the host, the task, the step (its log's name), how long, the log's last line
        assert beats and all(line.startswith("[%s] component_build : Run the component's steps (sleep-0_sleep): "
                                             "running for 0m0" % host) for line in beats), beats
        assert beats[-1].endswith(", last line: sleeping for 9 s"), beats
        # at most one an interval: a 9 s step gets three or four, never one per poll
        assert 2 <= len(beats) <= 5, beats
        assert not any("probe-a" in line for line in beats)
    finally:
        docker("rmi", "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner)

@pytest.mark.long
def test_artifact_cache_rebuilds_only_what_changed(tmp_path, build_id, image_owner, offline_base):
    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner
    roles = ["probe_a", "probe_b"]

    def build(number, **values):
        run = probe_build(tmp_path, "%s-%d" % (build_id, number), image_owner, offline_base, roles,
                          probe_a_value=build_id, **values)
        assert run.rc == 0, run.output[-3000:]
        build.output = run.output
        return _built(run.output), _probe_values(ref)

    try:
        assert build(1, probe_b_value="one")[1] == [build_id, "one", build_id, "1"]
        assert "components from the artifact cache: none" in build.output
        first_image = docker("image", "inspect", ref, "--format", "{{.Id}}").stdout
        # the same build again changes nothing: no container, no commit, the same image
        build(2, probe_b_value="one")
        assert "is up to date" in build.output
        assert "changed=0 " in build.output.split("PLAY RECAP")[1]
        assert docker("image", "inspect", ref, "--format", "{{.Id}}").stdout == first_image
        # probe-b's value: probe-b only
        assert build(3, probe_b_value="two")[1] == [build_id, "two", build_id, "1"]
        assert "components from the artifact cache: probe-a" in build.output
        # what probe_a's main entry point does: no component, only the image's last layer
        assert build(4, probe_b_value="two", probe_a_main_value="main")[1] == [build_id, "two", build_id, "main"]
        assert "components from the artifact cache: probe-a, probe-b" in build.output
        # no_cache: everything again
        build(5, probe_b_value="two", no_cache=True)
        assert "components from the artifact cache: none" in build.output
    finally:
        docker("rmi", ref)


@pytest.mark.long
def test_a_damaged_artifact_is_found_dropped_and_made_again(tmp_path, build_id, image_owner, offline_base):
    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner
    repository = "itest/" + image_owner

    def layers():
        return [t for t in docker("images", repository, "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
                if "-layer-" in t]

    try:
        first = probe_build(tmp_path, build_id, image_owner, offline_base, ["probe_a"], probe_a_value=build_id,
                            build_cache_repository=repository)
        assert first.rc == 0, first.output[-3000:]
        directory = tmp_path / "artifacts" / os.listdir(tmp_path / "artifacts")[0]
        tar = directory / "image.tar"
        data = bytearray(tar.read_bytes())
        data[600] ^= 0xFF   # the same size, other bytes
        tar.write_bytes(bytes(data))
        # without the image and its layer, the layer is made from the artifact again
        docker("rmi", ref)
        for tag in layers():
            docker("rmi", tag)
        bad = probe_build(tmp_path, build_id + "-2", image_owner, offline_base, ["probe_a"], probe_a_value=build_id,
                          build_cache_repository=repository)
        assert bad.rc != 0
        assert "components from the artifact cache: probe-a" in bad.output
        assert "the cached artifact of probe-a is damaged and was removed" in bad.output
        assert not directory.exists()
        assert images_of(image_owner) == [] and layers() == []
        again = probe_build(tmp_path, build_id + "-3", image_owner, offline_base, ["probe_a"], probe_a_value=build_id,
                            build_cache_repository=repository)
        assert again.rc == 0, again.output[-3000:]
        assert "built: probe-a" in again.output
        assert _probe_values(ref)[0] == build_id
    finally:
        docker("rmi", ref)
        for tag in layers():
            docker("rmi", tag)


@pytest.mark.long
def test_prune_keeps_what_tagged_images_and_running_builds_use(tmp_path, build_id, image_owner, offline_base):
    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner
    repository = "itest/" + image_owner
    try:
        for number, value in enumerate(("one", "two")):
            run = probe_build(tmp_path, "%s-%d" % (build_id, number), image_owner, offline_base, ["probe_a"],
                              probe_a_value=value, build_cache_repository=repository)
            assert run.rc == 0, run.output[-3000:]
        layers = docker("images", repository, "--format", "{{.Tag}}").stdout.split()
        assert len([t for t in layers if "-layer-probe-a-" in t]) == 2
        prune = ansible_playbook("playbooks/prune.yml", *extra(build_cache_repository=repository,
                                                                build_artifact_cache=str(tmp_path / "artifacts")))
        assert prune.rc == 0, prune.output[-3000:]
        left = docker("images", repository, "--format", "{{.Tag}}").stdout.split()
        # the layer of the tagged image stays, the other one goes; the newest bases stay
        assert len([t for t in left if "-layer-probe-a-" in t]) == 1
        parent = docker("image", "inspect", ref, "--format", "{{.Parent}}").stdout.strip()
        kept = docker("image", "inspect", "%s:%s" % (repository, [t for t in left if "-layer-" in t][0]),
                      "--format", "{{.Id}}").stdout.strip()
        assert parent == kept
        # the artifact of value "one" is used by no image any more
        assert len(os.listdir(tmp_path / "artifacts")) == 1
    finally:
        docker("rmi", ref)
        for tag in docker("images", repository, "--format", "{{.Repository}}:{{.Tag}}").stdout.split():
            docker("rmi", tag)


def _intervals(ref, count):
    out = docker("run", "--rm", ref, "sh", "-c", "cd /opt/_internal/sleep_probe && for d in sleep-*; do "
                 "echo $d $(cat $d/start) $(cat $d/end); done").stdout.split("\n")
    spans = [line.split() for line in out if line.strip()]
    assert len(spans) == count, out
    return [(float(start), float(end)) for _, start, end in spans]


def _most_at_once(spans):
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


# parallel=1 (one at a time) with the long tests: CI keeps the case of two at once
@pytest.mark.parametrize("parallel", [pytest.param(1, marks=pytest.mark.long), 2])
def test_components_build_at_once_up_to_build_parallel(tmp_path, build_id, image_owner, offline_base, parallel):
    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner
    try:
        run = probe_build(tmp_path, build_id, image_owner, offline_base, ["sleep_probe"], build_parallel=parallel,
                          sleep_probe_count=3, sleep_probe_tag=build_id)
        assert run.rc == 0, run.output[-3000:]
        assert "components to build (%d at once" % parallel in run.output
        assert _most_at_once(_intervals(ref, 3)) == parallel
    finally:
        docker("rmi", ref)


def _start_sleeping_build(tmp_path, build_id, image_owner, offline_base):
    """A build whose one component sleeps for ten minutes; returns the controller once the sleep runs."""
    log = open(tmp_path / ("%s.log" % build_id), "w")
    proc = ansible_playbook_started("playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_image_owner=image_owner, build_log_root=str(tmp_path / "logs"), build_roles=["sleep_probe"],
        build_artifact_cache=str(tmp_path / "artifacts"), sleep_probe_count=1, sleep_probe_seconds=600,
        sleep_probe_tag=build_id), log=log)
    container = "manylinux-component-%s-sleep-0" % build_id
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if docker("exec", container, "test", "-f", "/opt/_internal/sleep_probe/sleep-0/start").returncode == 0:
            return proc
        time.sleep(2)
    proc.kill()
    raise AssertionError("the sleeping step never started: " + (tmp_path / ("%s.log" % build_id)).read_text()[-3000:])


def _kill_controller(proc):
    """SIGKILL to the controller and everything in its session, as a cancelled CI job gets."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _running(build_id):
    return docker("ps", "--filter", "label=io.github.manylinux-shared.build-id=" + build_id,
                  "--format", "{{.Names}}").stdout.split()


# exclusive: prune.yml removes the cache images no tagged image is built on, a
# build's beside it (molecule's in CI) included
@pytest.mark.exclusive
def test_containers_of_a_killed_controller_are_removed_and_never_those_of_a_live_one(tmp_path, image_owner,
                                                                                    offline_base):
    killed, live = image_owner + "-killed", image_owner + "-live"
    procs = []
    try:
        procs.append(_start_sleeping_build(tmp_path, killed, image_owner, offline_base))
        _kill_controller(procs[0])
        # the fault: the step goes on in a container nobody will ever remove
        assert _running(killed) == ["manylinux-component-%s-sleep-0" % killed]
        # the next build removes it before it starts anything
        procs.append(_start_sleeping_build(tmp_path, live, image_owner, offline_base))
        assert containers_of(killed) == []
        # a reused id of a live build is refused, and the live build is left alone
        reused = probe_build(tmp_path, live, image_owner, offline_base, ["probe_a"])
        assert reused.rc != 0
        assert "build id %s is in use by a running build" % live in reused.output
        assert _running(live) == ["manylinux-component-%s-sleep-0" % live]
        # prune never removes a container of a live build ...
        prune = ansible_playbook("playbooks/prune.yml", *extra(build_artifact_cache=str(tmp_path / "artifacts"),
                                                                build_cache_repository="itest/" + image_owner))
        assert prune.rc == 0, prune.output[-3000:]
        assert _running(live) == ["manylinux-component-%s-sleep-0" % live]
        # ... and removes those of a dead one
        _kill_controller(procs[1])
        assert _running(live) == ["manylinux-component-%s-sleep-0" % live]
        prune = ansible_playbook("playbooks/prune.yml", *extra(build_artifact_cache=str(tmp_path / "artifacts"),
                                                                build_cache_repository="itest/" + image_owner))
        assert prune.rc == 0, prune.output[-3000:]
        assert "manylinux-component-%s-sleep-0 (%s)" % (live, live) in prune.output
        assert containers_of(live) == []
    finally:
        for proc in procs:
            if proc.poll() is None:
                _kill_controller(proc)
        for build in (killed, live):
            for name in containers_of(build):
                docker("rm", "-f", name)


@pytest.mark.parametrize("keyring,seen", [
    ("/nonexistent/keyring.gpg", "base_keyring=/nonexistent/keyring.gpg does not exist"),
    # real keys, but not those that sign the archive today
    ("/usr/share/keyrings/debian-archive-removed-keys.gpg", "Checking Release signature"),
])
def test_a_base_is_bootstrapped_only_from_a_signed_archive(image_owner, keyring, seen):
    name = "itest/%s-base:manylinux_2_31" % image_owner
    run = ansible_playbook("playbooks/base.yml", *extra(base_image_name=name, base_keyring=keyring))
    assert run.rc != 0
    assert seen in run.output
    assert docker("image", "inspect", name).returncode != 0


def test_a_path_with_a_space_and_a_command_substitution_is_harmless(tmp_path, build_id, image_owner, offline_base):
    # the project itself and the build's log directory live under such a name
    # (not ${VAR}: Ansible expands variables in the paths it is given, as a shell would)
    odd = tmp_path / "a b $(touch pwned; touch ../pwned)"
    shutil.copytree(ROOT, odd / "project", symlinks=True,
                    ignore=shutil.ignore_patterns(".venv", ".ansible", ".pytest_cache", "__pycache__", "reports"))
    environ = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_ROLES_PATH="%s:%s" % (
        odd / "project" / "roles", odd / "project" / "tests" / "integration" / "roles"))
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner
    proc = subprocess.run([playbook, "playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_image_owner=image_owner, build_log_root=str(odd / "logs"), build_roles=["probe_a"],
        build_artifact_cache=str(odd / "artifacts"), probe_a_value=build_id)],
        cwd=odd / "project", env=environ, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    try:
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        assert not list(tmp_path.rglob("pwned"))
        assert (odd / "logs" / build_id / "build-plan.json").is_file()
        # git -C found the project under its odd name
        labels = json.loads(docker("image", "inspect", ref, "--format", "{{json .Config.Labels}}").stdout)
        assert labels["org.opencontainers.image.revision"] not in ("", "unknown")
        assert labels["org.opencontainers.image.version"] == "latest"
        assert labels["org.opencontainers.image.base.name"] == offline_base
        # a local base has no registry digest: its own content digest (image id), said to be local
        base_id = docker("image", "inspect", offline_base, "--format", "{{.Id}}").stdout.strip()
        assert labels["org.opencontainers.image.base.digest"] == base_id
        assert labels["io.github.manylinux-shared.base-digest-source"] == "local"
        assert labels["org.opencontainers.image.created"].endswith("Z")
    finally:
        docker("rmi", ref)


def _restart_engine():
    """Stop the Docker engine as a host's restart of the service does, then start it as scripts/setup does."""
    if os.path.isdir("/run/systemd/system"):
        subprocess.run(["systemctl", "stop", "docker"], check=True)
    else:
        with open("/var/run/docker.pid") as handle:
            pid = int(handle.read())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 120
        while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
            time.sleep(1)
    time.sleep(3)  # the controller finds the engine gone
    subprocess.run([os.path.join(ROOT, "scripts", "setup")], check=True, stdout=subprocess.DEVNULL)


@pytest.mark.exclusive
@pytest.mark.skipif(os.geteuid() != 0, reason="restarts the Docker engine (root)")
def test_an_engine_restart_mid_step_fails_the_build_and_the_next_build_cleans_up(tmp_path, image_owner,
                                                                                 offline_base):
    first, second = image_owner + "-restarted", image_owner + "-next"
    proc = _start_sleeping_build(tmp_path, first, image_owner, offline_base)
    try:
        _restart_engine()
        assert proc.wait(timeout=600) != 0
    finally:
        if proc.poll() is None:
            _kill_controller(proc)
    output = (tmp_path / ("%s.log" % first)).read_text()
    assert "Build %s failed, no image was tagged" % first in output, output[-3000:]
    assert images_of(image_owner) == []
    # whatever the dead engine kept the first build from removing, the next build removes
    again = probe_build(tmp_path, second, image_owner, offline_base, ["probe_a"], probe_a_value=second)
    try:
        assert again.rc == 0, again.output[-3000:]
        assert containers_of(first) == []
    finally:
        docker("rmi", "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner)
