"""playbooks/build.yml on two Docker engines: the local one and a second one on this machine
(fixture second_engine), placed by the scheduler; the second one killed mid-build.

exclusive: the second engine is started and stopped, which once took the first engine's docker0
bridge with it; scripts/test runs these after the stages that build beside each other.
"""

import glob
import json
import os
import signal
import tarfile
import time

import pytest
from conftest import ansible_playbook, ansible_playbook_started, containers_of, docker, extra, images_of

pytestmark = pytest.mark.exclusive


def engine_build(tmp_path, build_id, image_owner, offline_base, inventory, roles, **values):
    values.setdefault("build_artifact_cache", str(tmp_path / "artifacts"))
    run = ansible_playbook(*inventory, "playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_image_owner=image_owner, build_log_root=str(tmp_path / "logs"), build_roles=roles, **values))
    (tmp_path / ("%s.log" % build_id)).write_text(run.output)
    return run


def flat(output):
    """The output with its lines joined (the callback wraps long messages)."""
    return " ".join(output.split())


def artifact_engines(cache):
    engines = {}
    for path in glob.glob(os.path.join(str(cache), "*", "artifact.json")):
        with open(path) as handle:
            meta = json.load(handle)
        engines[meta["name"]] = meta["engine"]
    return engines


@pytest.mark.parametrize("values,message", [
    ({"build_slot": 2}, "engine engine2 (inventory group manylinux_engines): unknown key build_slot"),
    ({"build_slots": 0}, "build_slots=0 is not a whole number of at least 1"),
    ({"docker_host": "unix:///run/manylinux-no-engine.sock"},
     "build engine engine2 (unix:///run/manylinux-no-engine.sock) does not answer"),
])
def test_a_bad_engine_fails_before_any_work(tmp_path, build_id, image_owner, offline_base, second_engine,
                                           values, message):
    inventory = second_engine.inventory(tmp_path / "engines.json", **values)
    run = engine_build(tmp_path, build_id, image_owner, offline_base, inventory, ["probe_a"])
    assert run.rc != 0
    assert message in flat(run.output), run.output[-3000:]
    assert "Check the build engines" in run.output
    assert containers_of(build_id) == [] and not os.path.exists(tmp_path / "logs" / build_id)


def test_components_build_on_both_engines_and_key_as_on_one(tmp_path, build_id, image_owner, offline_base,
                                                            second_engine):
    inventory = second_engine.inventory(tmp_path / "engines.json", slots=1)
    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner
    values = dict(build_parallel=1, sleep_probe_count=2, sleep_probe_seconds=3, sleep_probe_tag=build_id,
                  probe_a_value=build_id)
    try:
        run = engine_build(tmp_path, build_id, image_owner, offline_base, inventory, ["probe_a", "sleep_probe"],
                           **values)
        assert run.rc == 0, run.output[-3000:]
        output = flat(run.output)
        assert "build engines: local with build_parallel slots, engine2 (unix:///run/manylinux-engine2.sock) " \
            "with 1 slots" in output
        built_on = artifact_engines(tmp_path / "artifacts")
        assert sorted(built_on) == ["probe-a", "sleep-0", "sleep-1"]
        assert set(built_on.values()) == {"local", "engine2"}, built_on
        assert "engines: local built " in output and "; engine2 built " in output
        for name, engine in built_on.items():
            assert "building %s on engine %s" % (name, engine) in output
            assert "%s built after" % name in output
        # the image is the one-engine build's: the same keys, so one engine finds it up to date
        alone = engine_build(tmp_path, build_id + "-alone", image_owner, offline_base, [], ["probe_a", "sleep_probe"],
                             **values)
        assert alone.rc == 0, alone.output[-3000:]
        assert "%s is up to date" % ref in flat(alone.output)
        out = docker("run", "--rm", ref, "cat", "/opt/_internal/probe_a/value", "/opt/_internal/sleep_probe/sleep-1/tag")
        assert out.stdout.split() == [build_id, build_id]
        # every container of the build is gone from both engines
        assert containers_of(build_id) == []
        assert second_engine.docker("ps", "-aq").stdout.split() == []
    finally:
        docker("rmi", ref)


def test_an_engine_killed_mid_build_leaves_its_components_to_the_other(tmp_path, build_id, image_owner, offline_base,
                                                                       second_engine):
    inventory = second_engine.inventory(tmp_path / "engines.json", slots=1)
    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner
    log_path = tmp_path / "build.log"
    proc = ansible_playbook_started(*inventory, "playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_image_owner=image_owner, build_log_root=str(tmp_path / "logs"), build_roles=["sleep_probe"],
        build_artifact_cache=str(tmp_path / "artifacts"), build_parallel=1, sleep_probe_count=2,
        sleep_probe_seconds=40, sleep_probe_tag=build_id), log=open(log_path, "w"))
    try:
        deadline = time.monotonic() + 300
        far = None
        while far is None:
            assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()[-3000:]
            for n in (0, 1):
                if second_engine.docker("exec", "manylinux-component-%s-sleep-%d" % (build_id, n), "test", "-f",
                                        "/opt/_internal/sleep_probe/sleep-%d/start" % n).returncode == 0:
                    far = "sleep-%d" % n
            time.sleep(1)
        second_engine.kill()
        assert proc.wait(timeout=600) == 0, log_path.read_text()[-3000:]
        output = flat(log_path.read_text())
        assert "%s: its engine engine2 stopped answering; it waits for another engine" % far in output
        assert artifact_engines(tmp_path / "artifacts") == {"sleep-0": "local", "sleep-1": "local"}
        assert "engine2 built nothing (lost: " in output
        assert docker("image", "inspect", ref).returncode == 0
        assert containers_of(build_id) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        second_engine.stop()
        second_engine.start()
        docker("rmi", ref)
    assert images_of(image_owner) == []


def test_a_cancelled_build_removes_its_containers_on_every_engine(tmp_path, build_id, image_owner, offline_base,
                                                                  second_engine):
    inventory = second_engine.inventory(tmp_path / "engines.json", slots=1)
    log_path = tmp_path / "build.log"
    proc = ansible_playbook_started(*inventory, "playbooks/build.yml", *extra(
        policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
        build_image_owner=image_owner, build_log_root=str(tmp_path / "logs"), build_roles=["sleep_probe"],
        build_artifact_cache=str(tmp_path / "artifacts"), build_parallel=1, sleep_probe_count=2,
        sleep_probe_seconds=600, sleep_probe_tag=build_id), log=open(log_path, "w"))
    try:
        deadline = time.monotonic() + 300
        while not all(engine("exec", "manylinux-component-%s-sleep-%d" % (build_id, n), "test", "-f",
                             "/opt/_internal/sleep_probe/sleep-%d/start" % n).returncode == 0
                      for n, engine in ((0, docker), (1, second_engine.docker))):
            assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()[-3000:]
            time.sleep(1)
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 99
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = flat(log_path.read_text())
    assert "Cancelled by SIGINT (build %s): removed " % build_id in output, output[-3000:]
    for n in (0, 1):
        assert "manylinux-component-%s-sleep-%d" % (build_id, n) in output
    assert containers_of(build_id) == []
    assert second_engine.docker("ps", "-aq").stdout.split() == []
    assert images_of(image_owner) == []


def artifact_keys(cache):
    keys = {}
    for path in glob.glob(os.path.join(str(cache), "*", "artifact.json")):
        with open(path) as handle:
            meta = json.load(handle)
        keys[meta["name"]] = meta["key"]
    return keys


def image_labels(ref):
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", ref).stdout)
    # what differs between any two builds of one image
    for name in ("org.opencontainers.image.created", "io.github.manylinux-shared.build-id"):
        labels.pop(name, None)
    return labels


def artifact_members(cache):
    """{component: {tar file: the names in it}}: what each artifact holds."""
    members = {}
    for path in glob.glob(os.path.join(str(cache), "*", "artifact.json")):
        with open(path) as handle:
            meta = json.load(handle)
        members[meta["name"]] = {}
        for part, info in sorted(meta["files"].items()):
            with tarfile.open(os.path.join(os.path.dirname(path), info["file"])) as tar:
                members[meta["name"]][part] = sorted(tar.getnames())
    return members


# What the image is made of, beside its labels: every path below the prefixes the components install.
IMAGE_FILES = "find /opt /usr/local -xdev \\( -type f -o -type l \\) ! -name '*.pyc' | sort"


def one_then_two_engines(tmp_path, build_id, image_owner, second_engine, args, values, hours):
    """Build on one engine, then on two with the second killed once it has built a component and is building
    another; the second build finishes on the first engine, the components ran on both, and the image is the
    one-engine build's: the same component keys and artifact contents, image labels (its key among them) and
    files. Both share the bases (a component's key holds the build base's id), and so the layers, which are
    keyed by the components' keys."""
    values = dict(values, build_image_owner=image_owner, build_log_root=str(tmp_path / "logs"))
    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % image_owner
    one_ref = "manylinux-shared/itest-one:%s" % image_owner
    log_path = tmp_path / "two.log"
    try:
        one = ansible_playbook("playbooks/build.yml", *args, *extra(
            build_id=build_id + "-one", build_artifact_cache=str(tmp_path / "one"), **values))
        (tmp_path / "one.log").write_text(one.output)
        assert one.rc == 0, one.output[-3000:]
        # kept under another name, so that the second build does not find its image up to date
        assert docker("tag", ref, one_ref).returncode == 0 and docker("rmi", ref).returncode == 0
        inventory = second_engine.inventory(tmp_path / "engines.json", slots=1)
        proc = ansible_playbook_started(*inventory, "playbooks/build.yml", *args, *extra(
            build_id=build_id + "-two", build_artifact_cache=str(tmp_path / "two"), **values),
            log=open(log_path, "w"))
        try:
            deadline = time.monotonic() + hours * 3600
            while not ("engine2" in artifact_engines(tmp_path / "two").values() and second_engine.docker(
                    "ps", "-q", "--filter", "label=io.github.manylinux-shared.build-id=%s-two" % build_id).stdout.strip()):
                assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()[-3000:]
                time.sleep(2)
            second_engine.kill()
            assert proc.wait(timeout=hours * 3600) == 0, log_path.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            second_engine.stop()
            second_engine.start()
        output = flat(log_path.read_text())
        assert "its engine engine2 stopped answering; it waits for another engine" in output, output[-3000:]
        assert "(lost: " in output
        built_on = artifact_engines(tmp_path / "two")
        assert set(built_on.values()) == {"local", "engine2"}, built_on
        assert artifact_keys(tmp_path / "two") == artifact_keys(tmp_path / "one")
        assert artifact_members(tmp_path / "two") == artifact_members(tmp_path / "one")
        assert image_labels(ref) == image_labels(one_ref)
        files = [docker("run", "--rm", image, "sh", "-c", IMAGE_FILES).stdout for image in (one_ref, ref)]
        assert files[0] and files[0] == files[1]
        return built_on
    finally:
        docker("rmi", one_ref)
        docker("rmi", ref)


def test_probes_on_two_engines_with_the_second_killed_are_the_one_engine_image(tmp_path, build_id, image_owner,
                                                                                 offline_base, second_engine):
    values = dict(policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_roles=["probe_a", "sleep_probe"],
                  build_parallel=1, sleep_probe_count=4, sleep_probe_seconds=15, sleep_probe_tag=build_id,
                  probe_a_value=build_id)
    built_on = one_then_two_engines(tmp_path, build_id, image_owner, second_engine, [], values, hours=0.2)
    assert sorted(built_on) == ["probe-a", "sleep-0", "sleep-1", "sleep-2", "sleep-3"]


@pytest.mark.long
def test_the_offline_default_image_on_two_engines_with_the_second_killed_is_the_one_engine_image(
        tmp_path, build_id, image_owner, offline_base, second_engine):
    """The offline default image (the molecule scenario's settings), as the probes above."""
    offline = ["-e", "@" + os.path.join(os.path.dirname(__file__), "..", "offline.yml")]
    values = dict(policy="manylinux_2_31", arch="x86_64", base_image=offline_base, cpython_shared_optimizations=False,
                  build_ca_bundle=os.environ.get("MANYLINUX_CA_BUNDLE", ""))
    built_on = one_then_two_engines(tmp_path, build_id, image_owner, second_engine, offline, values, hours=3)
    assert "shared-cpython-3.14" in built_on
