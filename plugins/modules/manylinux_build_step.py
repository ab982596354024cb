#!/usr/bin/python
"""Run one build step (configure, make, install...) with its output kept in a log."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_build_step
short_description: Run one compile step, log its whole output, fail with the log's tail
description:
  - Runs O(cmd) with C(/bin/sh -c) in O(chdir), writing stdout and stderr to
    C(<log_dir>/<name>.log) instead of returning them, so long builds keep their full
    output without flooding Ansible's.
  - On a non-zero exit the task fails with the last O(tail_lines) lines of the log.
  - It also fails when a line this run wrote to the log matches one of O(fail_on), as
    in builds that exit 0 although part of them failed (CPython's optional modules).
  - Always reports a change; callers decide with C(when) whether the step must run.
options:
  name:
    description: What the step builds, e.g. C(openssl-3.5.7 make). Also the log file's name.
    type: str
    required: true
  cmd:
    description: Shell command line.
    type: str
    required: true
  chdir:
    description: Working directory.
    type: path
    required: true
  environment:
    description: Extra environment variables for the command.
    type: dict
    default: {}
  log_dir:
    description: Directory for the log file.
    type: path
    required: true
  tail_lines:
    description: How many lines of the log a failure shows.
    type: int
    default: 40
  fail_on:
    description:
      - Regular expressions (Python, searched per line); a line of this run's output
        that matches fails the step, with the lines that follow it.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Build OpenSSL, its whole output in the build's log directory
  manylinux_shared.factory.manylinux_build_step:
    name: openssl-3.5.7 make
    cmd: make -j4
    chdir: /tmp/build/openssl-3.5.7
    environment:
      CFLAGS: -O2
    log_dir: /tmp/logs
    tail_lines: 60
    fail_on:
      - "^configure: WARNING: unrecognized options"
"""

RETURN = r"""
log:
  description: Path of the log file in the build container.
  type: str
  returned: always
seconds:
  description: Wall-clock seconds the step took.
  type: float
  returned: always
rc:
  description: Exit status of the command.
  type: int
  returned: always
"""

import collections
import os
import re
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule


def log_name(name):
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("_") + ".log"


def tail(path, lines):
    with open(path, "rb") as handle:
        last = collections.deque(handle, maxlen=lines)
    return b"".join(last).decode("utf-8", "replace")


def flagged(path, offset, patterns, context=5):
    """Lines written after `offset` that match one of `patterns`, each with the lines after it."""
    if not patterns:
        return []
    regexes = [re.compile(pattern) for pattern in patterns]
    with open(path, "rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode("utf-8", "replace").splitlines()
    found = []
    for number, line in enumerate(lines):
        if any(regex.search(line) for regex in regexes):
            found.append("\n".join(lines[number:number + 1 + context]))
    return found


def run_step(name, cmd, chdir, environment, log_dir, tail_lines, fail_on=()):
    if not os.path.isdir(log_dir):
        os.makedirs(log_dir)
    log = os.path.join(log_dir, log_name(name))
    env = dict(os.environ)
    env.update({k: str(v) for k, v in (environment or {}).items()})
    start = time.time()
    offset = os.path.getsize(log) if os.path.exists(log) else 0
    with open(log, "ab") as out:
        header = "### %s\n### cwd: %s\n### cmd: %s\n### env: %s\n" % (
            name, chdir, cmd, " ".join("%s=%s" % kv for kv in sorted((environment or {}).items())))
        out.write(header.encode())
        out.flush()
        rc = subprocess.call(["/bin/sh", "-c", cmd], cwd=chdir, env=env,
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    seconds = round(time.time() - start, 1)
    with open(log, "ab") as out:
        out.write(("### exit %d after %.1f s\n" % (rc, seconds)).encode())
    result = dict(changed=True, rc=rc, log=log, seconds=seconds)
    if rc != 0:
        result["failed"] = True
        result["msg"] = "%s failed (exit %d after %.1f s); log %s ends with:\n%s" % (
            name, rc, seconds, log, tail(log, tail_lines))
        return result
    matches = flagged(log, offset, fail_on)
    if matches:
        result["failed"] = True
        result["msg"] = "%s exited 0 but its log %s says:\n%s" % (name, log, "\n...\n".join(matches))
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            cmd=dict(type="str", required=True),
            chdir=dict(type="path", required=True),
            environment=dict(type="dict", default={}),
            log_dir=dict(type="path", required=True),
            tail_lines=dict(type="int", default=40),
            fail_on=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=False,
    )
    p = module.params
    if not os.path.isdir(p["chdir"]):
        module.fail_json(msg="%s: no directory %s" % (p["name"], p["chdir"]))
    result = run_step(p["name"], p["cmd"], p["chdir"], p["environment"], p["log_dir"], p["tail_lines"],
                      p["fail_on"])
    if result.get("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
