"""Services the integration tests and the benchmarks start on this machine: a real OCI registry (Debian's
docker-registry) on a free port of 127.0.0.1."""

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid


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
