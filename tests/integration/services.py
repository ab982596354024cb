"""Services the integration tests and the benchmarks start on this machine: a real OCI registry (Debian's
docker-registry) on a free port of 127.0.0.1, and a second Docker engine beside the first."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BASE = "manylinux-shared/base:manylinux_2_31-amd64"


def docker(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_registry(work, delete=False):
    """Debian's docker-registry on a free port of 127.0.0.1, storing in `work`/data, with one htpasswd user
    (made once per `work`), deletes allowed when `delete`: (process, {address, user, password, data})."""
    for tool in ("docker-registry", "htpasswd"):
        if not shutil.which(tool):
            raise RuntimeError("%s is missing: scripts/test installs docker-registry and apache2-utils" % tool)
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
                raise RuntimeError("the second engine did not start: " + open(self.log).read()[-2000:])
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

    def close(self):
        """Stop it and remove its data; then the first engine is checked and, only when it cannot run a container,
        restarted as scripts/setup starts it (a stopped second engine once left it without its docker0 bridge)."""
        self.stop()
        # dockerd mounts its data root on itself (private) and leaves the mount (a bind mount of the same
        # file system, which os.path.ismount does not see)
        while subprocess.run(["mountpoint", "-q", self.data_root]).returncode == 0:
            subprocess.run(["umount", self.data_root], check=True)
        shutil.rmtree(self.data_root, ignore_errors=True)
        shutil.rmtree(self.exec_root, ignore_errors=True)
        if not first_engine_runs_containers():
            restart_first_engine()
            if not first_engine_runs_containers():
                raise RuntimeError("the first engine cannot run a container after a restart")


def first_engine_runs_containers():
    return docker("run", "--rm", BASE, "true").returncode == 0


def restart_first_engine():
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
