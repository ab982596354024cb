import json
import os
import subprocess
import sys
import time
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BASE = "manylinux-shared/base:manylinux_2_31-amd64"
LABEL = "io.github.manylinux-shared"
# `scripts/test long` sets it: the tests marked long run only then (they keep CI under an hour)
LONG_TESTS = os.environ.get("MANYLINUX_LONG_TESTS") == "1"


def pytest_collection_modifyitems(config, items):
    if LONG_TESTS:
        return
    skip = pytest.mark.skip(reason="long build test: scripts/test long (MANYLINUX_LONG_TESTS=1) runs it")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)


class Run:
    def __init__(self, proc, seconds):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.seconds = seconds


def ansible_playbook(*args, env=None):
    environ = dict(os.environ)
    environ["ANSIBLE_ROLES_PATH"] = os.path.join(ROOT, "roles") + ":" + os.path.join(ROOT, "tests", "integration", "roles")
    environ["ANSIBLE_NOCOLOR"] = "1"
    environ.update(env or {})
    start = time.monotonic()
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run([playbook, *args], cwd=ROOT, env=environ, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    return Run(proc, time.monotonic() - start)


def ansible_playbook_started(*args, env=None, log=None):
    """ansible-playbook in a session of its own (so that a test can kill it as a CI runner does), output to `log`."""
    environ = dict(os.environ)
    environ["ANSIBLE_ROLES_PATH"] = os.path.join(ROOT, "roles") + ":" + os.path.join(ROOT, "tests", "integration", "roles")
    environ["ANSIBLE_NOCOLOR"] = "1"
    environ.update(env or {})
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return subprocess.Popen([playbook, *args], cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True)


@pytest.fixture(scope="session")
def offline_base():
    if docker("image", "inspect", BASE).returncode != 0:
        run = ansible_playbook("playbooks/base.yml")
        assert run.rc == 0, run.output
    return BASE


@pytest.fixture
def build_id():
    return "itest-" + uuid.uuid4().hex[:8]


@pytest.fixture
def image_owner():
    return "itest-" + uuid.uuid4().hex[:8]


def containers_of(build_id):
    proc = docker("ps", "-a", "--filter", "label=%s.build-id=%s" % (LABEL, build_id), "--format", "{{.Names}}")
    return proc.stdout.split()


def images_of(owner):
    proc = docker("images", "--format", "{{.Repository}}:{{.Tag}}")
    return [ref for ref in proc.stdout.split() if "/%s/" % owner in ref]


def extra(**values):
    return ["-e", json.dumps(values)]
