"""Shared by the benchmarks: run playbooks/build.yml and time it."""

import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAYBOOK_BIN = os.path.join(REPO, ".venv", "bin", "ansible-playbook")


def playbook(name, *args, log=None):
    """Run a playbook of playbooks/ from the project directory; return (seconds, output). Fails loudly."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_ROLES_PATH=os.path.join(REPO, "roles") + ":"
               + os.path.join(REPO, "tests", "integration", "roles"))
    start = time.monotonic()
    proc = subprocess.run([PLAYBOOK_BIN, os.path.join("playbooks", name), *args], cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.monotonic() - start
    if log:
        with open(log, "w") as handle:
            handle.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:])
        raise SystemExit("%s failed (exit %d)%s" % (name, proc.returncode, "; log: " + log if log else ""))
    return seconds, proc.stdout


def extra(**values):
    return ["-e", json.dumps(values)]


def docker_output(*args):
    """stdout of a docker CLI command ('' when it fails)."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""
