"""A cancelled build cleans up after itself (callback manylinux_cancel).

The controller is signalled as its process group, as a terminal does (Ctrl-C: SIGINT, a closed
terminal: SIGHUP) and as a CI runner cancelling a job does (SIGTERM), at three moments: while
the bases are made, during a component's step, and in the build container (a role's `main`).
Every case leaves nothing: no container of the build, no tag, no untagged image, no artifact of
the cancelled component. Each signal at each moment: `scripts/test long`; CI runs one moment per
signal, and a second Ctrl-C during the cleanup.
"""

import glob
import os
import signal
import time

import pytest

from conftest import LABEL, ansible_playbook_started, containers_of, docker, extra, images_of

# moment: (the container that runs then, a file that says the moment has come)
MOMENTS = {
    "bases": ("manylinux-bases-{id}", "/tmp/sleep_probe-runtime_base"),
    "component": ("manylinux-component-{id}-sleep-0", "/opt/_internal/sleep_probe/sleep-0/start"),
    "main": ("manylinux-build-{id}", "/tmp/sleep_probe-main"),
}
CI_CASES = {("SIGINT", "bases"), ("SIGTERM", "component"), ("SIGHUP", "main")}
CASES = [pytest.param(name, moment, marks=[] if (name, moment) in CI_CASES else [pytest.mark.long])
         for name in ("SIGINT", "SIGTERM", "SIGHUP") for moment in MOMENTS]


def _start_at(tmp_path, moment, build_id, image_owner, offline_base, **more):
    """A build of sleep_probe that sleeps ten minutes at `moment`; returns its controller once it sleeps."""
    values = dict(policy="manylinux_2_31", arch="x86_64", base_image=offline_base, build_id=build_id,
                  build_image_owner=image_owner, build_log_root=str(tmp_path / "logs"),
                  build_artifact_cache=str(tmp_path / "artifacts"), build_roles=["sleep_probe"],
                  sleep_probe_count=1, sleep_probe_seconds=600 if moment == "component" else 1,
                  sleep_probe_tag=build_id)
    if moment == "bases":
        # a key of its own: these bases are made, not taken from the cache
        values.update(sleep_probe_runtime_base_seconds=600, sleep_probe_base_tag=build_id)
    if moment == "main":
        values.update(sleep_probe_main_seconds=600)
    values.update(more)
    log = open(tmp_path / "controller.log", "w")
    proc = ansible_playbook_started("playbooks/build.yml", *extra(**values), log=log)
    container, marker = MOMENTS[moment]
    container = container.format(id=build_id)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if docker("exec", container, "test", "-f", marker).returncode == 0:
            return proc, container
        time.sleep(1)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the build never got to its %s: %s" % (moment, (tmp_path / "controller.log").read_text()[-3000:]))


def _cancel(proc, signum, times=1):
    """Signal the controller's process group; return the seconds until it exited."""
    start = time.monotonic()
    for _ in range(times):
        os.killpg(proc.pid, signum)
        time.sleep(0.5)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return time.monotonic() - start


def _dangling_images_of(build_id):
    return docker("images", "--quiet", "--filter", "dangling=true",
                  "--filter", "label=%s.build-id=%s" % (LABEL, build_id)).stdout.split()


def _assert_nothing_left(tmp_path, build_id, image_owner, moment):
    assert containers_of(build_id) == []
    assert images_of(image_owner) == []
    assert _dangling_images_of(build_id) == []
    if moment != "main":
        # the cancelled component's partial output is not an artifact
        assert glob.glob(str(tmp_path / "artifacts" / "sleep-0-*" / "artifact.json")) == []


@pytest.mark.parametrize("name,moment", CASES)
def test_a_cancelled_build_removes_its_containers_and_tags_nothing(tmp_path, build_id, image_owner,
                                                                  offline_base, name, moment):
    proc, container = _start_at(tmp_path, moment, build_id, image_owner, offline_base)
    try:
        seconds = _cancel(proc, getattr(signal, name))
        output = (tmp_path / "controller.log").read_text()
        assert proc.returncode == 99, output[-3000:]
        assert seconds < 20, "the controller took %.0f s to stop and clean up" % seconds
        assert "Cancelled by %s (build %s): removed %s." % (name, build_id, container) in output, output[-3000:]
        _assert_nothing_left(tmp_path, build_id, image_owner, moment)
    finally:
        for leftover in containers_of(build_id):
            docker("rm", "-f", leftover)


def test_a_second_ctrl_c_while_cleaning_up_leaves_nothing_half_done(tmp_path, build_id, image_owner,
                                                                    offline_base):
    proc, container = _start_at(tmp_path, "component", build_id, image_owner, offline_base)
    try:
        _cancel(proc, signal.SIGINT, times=2)
        output = (tmp_path / "controller.log").read_text()
        assert proc.returncode == 99, output[-3000:]
        assert output.count("Cancelled by SIGINT") == 1, output[-3000:]
        assert "removed %s." % container in output
        _assert_nothing_left(tmp_path, build_id, image_owner, "component")
    finally:
        for leftover in containers_of(build_id):
            docker("rm", "-f", leftover)


def test_a_cancelled_build_keeps_its_containers_with_build_keep_container(tmp_path, build_id, image_owner,
                                                                          offline_base):
    proc, container = _start_at(tmp_path, "component", build_id, image_owner, offline_base,
                                build_keep_container=True)
    try:
        _cancel(proc, signal.SIGTERM)
        output = (tmp_path / "controller.log").read_text()
        assert proc.returncode == 99, output[-3000:]
        assert "kept (build_keep_container) %s." % container in output, output[-3000:]
        assert containers_of(build_id) == [container]
        assert images_of(image_owner) == []
    finally:
        for leftover in containers_of(build_id):
            docker("rm", "-f", leftover)
