import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
from services import free_port, serve_registry, stop_registry  # noqa: F401 (the tests import them from here)

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


class SecondEngine:
    """A second Docker engine on this machine, with its own socket, data, state and pid file, in a network
    namespace of its own (its bridge and rules never touch the first engine's; the component containers
    have no network anyway): the build's engine `engine2` (inventory group manylinux_engines)."""

    name = "engine2"
    socket = "unix:///run/manylinux-engine2.sock"
    data_root = "/var/lib/manylinux-engine2"
    exec_root = "/run/manylinux-engine2-exec"
    pidfile = "/run/manylinux-engine2.pid"

    def __init__(self, log):
        self.log = log
        self.proc = None

    def docker(self, *args):
        return subprocess.run(["docker", "--host", self.socket, *args], capture_output=True, text=True)

    def answers(self):
        return self.docker("version", "--format", "{{.Server.Version}}").returncode == 0

    def start(self):
        # a killed dockerd leaves its pid file, which a new one may refuse
        if os.path.exists(self.pidfile) and self.proc is not None and self.proc.poll() is not None:
            os.remove(self.pidfile)
        # In a network namespace of its own: a dockerd started with --bridge none deletes the host's
        # docker0 (the first engine's default bridge), and one with a bridge would share its iptables.
        self.proc = subprocess.Popen(
            ["unshare", "--net", "dockerd", "--host", self.socket, "--data-root", self.data_root,
             "--exec-root", self.exec_root, "--pidfile", self.pidfile, "--iptables=false", "--ip-masq=false"],
            stdout=open(self.log, "a"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the second engine did not start: " + open(self.log).read()[-2000:])
            time.sleep(0.5)

    def kill(self):
        """SIGKILL to its dockerd, as a machine that stops answering: its containers are left to its containerd."""
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        """SIGTERM, which stops its containers; an engine that was killed is started first, so that it does."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def inventory(self, path, slots=1, **values):
        """An inventory file that adds this engine (with `values` set on it, as a user's mistakes are)."""
        engine = dict({"docker_host": self.socket, "build_slots": slots}, **values)
        path.write_text(json.dumps({"all": {"children": {"manylinux_engines": {"hosts": {self.name: engine}}}}}))
        return ["-i", os.path.join(ROOT, "inventories", "default", "hosts.yml"), "-i", str(path)]


def _first_engine_runs_containers():
    return docker("run", "--rm", BASE, "true").returncode == 0


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
        engine.stop()
        # dockerd mounts its data root on itself (private) and leaves the mount (a bind mount of the same
        # file system, which os.path.ismount does not see)
        while subprocess.run(["mountpoint", "-q", SecondEngine.data_root]).returncode == 0:
            subprocess.run(["umount", SecondEngine.data_root], check=True)
        shutil.rmtree(SecondEngine.data_root, ignore_errors=True)
        shutil.rmtree(SecondEngine.exec_root, ignore_errors=True)
        if not _first_engine_runs_containers():
            _restart_first_engine()
            assert _first_engine_runs_containers(), "the first engine cannot run a container after a restart"


def _restart_first_engine():
    """Stop the first engine (SIGTERM) and start it again as scripts/setup does."""
    if os.path.isdir("/run/systemd/system"):
        subprocess.run(["systemctl", "restart", "docker"], check=True)
        return
    with open("/var/run/docker.pid") as handle:
        pid = int(handle.read())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 120
    while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
        time.sleep(1)
    subprocess.run([os.path.join(ROOT, "scripts", "setup")], check=True, stdout=subprocess.DEVNULL)
