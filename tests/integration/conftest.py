import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from services import SecondEngine, free_port, serve_registry, stop_registry  # noqa: F401 (the tests import them from here)

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


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A real registry on 127.0.0.1 (Debian's docker-registry) with one htpasswd user; stopped after the module
    that uses it (test_multiarch's publish, test_base_pins)."""
    proc, found = serve_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield found
    finally:
        stop_registry(proc, found["address"])


@pytest.fixture(scope="module")
def second_engine(tmp_path_factory, offline_base):
    """The second engine, for the tests of one module; stopped after them, its data removed. A stopped second
    engine has once left the first one without its docker0 bridge (every `docker run` failed): the first
    engine is checked and, only when it cannot run a container, restarted as scripts/setup starts it."""
    if os.geteuid() != 0 or not shutil.which("dockerd"):
        pytest.skip("starts a second Docker engine (root, dockerd)")
    if os.path.exists(SecondEngine.pidfile):
        pytest.fail("%s exists: a second engine of an earlier run is still up (or was killed); stop it and remove "
                    "the file" % SecondEngine.pidfile)
    engine = SecondEngine(str(tmp_path_factory.mktemp("engine2") / "dockerd.log"))
    engine.start()
    try:
        yield engine
    finally:
        engine.close()
