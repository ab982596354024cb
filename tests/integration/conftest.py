import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
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


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_registry(work, delete=False):
    """Debian's docker-registry on a free port of 127.0.0.1, storing in `work`/data, with one htpasswd user
    (made once per `work`), deletes allowed when `delete`: (process, {address, user, password, data})."""
    for tool in ("docker-registry", "htpasswd"):
        if not shutil.which(tool):
            pytest.fail("%s is missing: scripts/test installs docker-registry and apache2-utils" % tool)
    if not (work / "password").exists():
        password = uuid.uuid4().hex
        htpasswd = subprocess.run(["htpasswd", "-Bbn", "publisher", password], check=True, capture_output=True,
                                  text=True)
        (work / "htpasswd").write_text(htpasswd.stdout)
        (work / "password").write_text(password)
    port = free_port()
    (work / "config.yml").write_text(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: %s\n"
        "http:\n  addr: 127.0.0.1:%d\nauth:\n  htpasswd:\n    realm: test\n    path: %s\n"
        % (work / "data", "true" if delete else "false", port, work / "htpasswd"))
    proc = subprocess.Popen(["docker-registry", "serve", str(work / "config.yml")],
                            stdout=open(work / "log", "a"), stderr=subprocess.STDOUT)
    address = "127.0.0.1:%d" % port
    for _ in range(50):
        try:
            urllib.request.urlopen("http://%s/v2/" % address, timeout=1)
        except urllib.error.HTTPError:
            break  # 401: up, and asking for credentials
        except OSError:
            time.sleep(0.2)
    return proc, {"address": address, "user": "publisher", "password": (work / "password").read_text(),
                  "data": str(work / "data")}


def stop_registry(proc, address):
    proc.terminate()
    proc.wait(timeout=10)
    docker("logout", address)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A real registry on 127.0.0.1 (Debian's docker-registry) with one htpasswd user; stopped after the module
    that uses it (test_multiarch's publish, test_base_pins)."""
    proc, found = serve_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield found
    finally:
        stop_registry(proc, found["address"])
