#!/usr/bin/python
"""The controller that owns a build's containers, and the containers whose controller is gone."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_controller
short_description: Identify the build's controller; remove the containers of dead controllers
description:
  - Runs on the controller, with the docker CLI.
  - Every container a build starts carries the label C(<label_prefix>.controller) with the identity
    of the ansible-playbook run that started it, C(<host>/<boot id>/<pid>/<start>) (the start time of
    the process in clock ticks since boot, so that a reused pid is not taken for the controller).
    A controller killed with SIGKILL or by a cancelled CI job leaves its containers running for ever,
    the C(docker exec)'d step with them, and they keep their images from being pruned.
  - C(state=identified) returns the identity of the process O(pid).
  - C(state=swept) removes every container whose controller is dead (same host, and the boot or the
    process is gone), never one of a live controller or of another host (whose liveness cannot be
    seen from here). With O(build_id), fails when a container of that build id belongs to a live
    controller other than O(identity), as a reused build id must not take over a running build.
  - Containers without the label (the molecule scenario's, which live between its steps) are never touched.
options:
  state:
    description: What to do.
    type: str
    choices: [identified, swept]
    required: true
  pid:
    description: For C(identified), the controller's process id (lookup C(manylinux_controller_pid)).
    type: int
  label_prefix:
    description: For C(swept), the label namespace of the build's containers.
    type: str
  build_id:
    description: For C(swept), the id of the build about to start.
    type: str
    default: ""
  identity:
    description: For C(swept), the identity of this run (its own containers are never in its way).
    type: str
    default: ""
  dry_run:
    description: For C(swept), only list what would be removed.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Who runs this build
  manylinux_shared.factory.manylinux_controller:
    state: identified
    pid: "{{ lookup('manylinux_controller_pid') }}"
  register: controller

- name: Remove the containers of builds whose controller died
  manylinux_shared.factory.manylinux_controller:
    state: swept
    label_prefix: io.github.manylinux-shared
    build_id: "{{ build_id }}"
    identity: "{{ controller.identity }}"
"""

RETURN = r"""
identity:
  description: For C(identified), C(<host>/<boot id>/<pid>/<start>).
  type: str
  returned: when state is identified
removed:
  description: For C(swept), the containers removed (or, with O(dry_run), to remove), as C(name (build id)).
  type: list
  returned: when state is swept
"""

import os
import socket

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_docker import DockerError, docker


def _boot_id():
    with open("/proc/sys/kernel/random/boot_id") as handle:
        return handle.read().strip()


def _start_ticks(pid):
    """The process's start time (clock ticks since boot), or None when there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            stat = handle.read()
    except OSError:
        return None
    # the command name is in parentheses and may hold spaces: the fields follow the last ')'
    return int(stat.rsplit(")", 1)[1].split()[19])


def identify(pid):
    start = _start_ticks(pid)
    if start is None:
        raise ValueError("no process %d" % pid)
    return "%s/%s/%d/%d" % (socket.gethostname(), _boot_id(), pid, start)


def state_of(identity):
    """'alive', 'dead' or 'unknown' (another host, or not an identity this module wrote)."""
    parts = identity.split("/")
    if len(parts) != 4 or not parts[2].isdigit() or not parts[3].isdigit():
        return "unknown"
    host, boot, pid, start = parts
    if host != socket.gethostname():
        return "unknown"
    if boot != _boot_id():
        return "dead"
    return "alive" if _start_ticks(int(pid)) == int(start) else "dead"


def labeled_containers(label_prefix):
    """(id, name, controller, build id) of every container with a controller label."""
    controller, build = label_prefix + ".controller", label_prefix + ".build-id"
    out = docker("ps", "--all", "--no-trunc", "--filter", "label=" + controller, "--format",
                 '{{.ID}}\t{{.Names}}\t{{.Label "%s"}}\t{{.Label "%s"}}' % (controller, build))
    return [tuple(line.split("\t")) for line in out.splitlines() if line.count("\t") == 3]


def sweep(label_prefix, build_id="", identity="", dry_run=False):
    """Remove the containers of dead controllers; return (removed, in_use) as 'name (build id)'."""
    removed, in_use = [], []
    for container, name, owner, build in labeled_containers(label_prefix):
        state = state_of(owner)
        if state == "dead":
            if not dry_run:
                docker("rm", "--force", "--volumes", container, check=False)
            removed.append("%s (%s)" % (name, build))
        elif state == "alive" and build_id and build == build_id and owner != identity:
            in_use.append("%s (%s)" % (name, owner))
    return removed, in_use


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["identified", "swept"]),
            pid=dict(type="int"),
            label_prefix=dict(type="str"),
            build_id=dict(type="str", default=""),
            identity=dict(type="str", default=""),
            dry_run=dict(type="bool", default=False),
        ),
        required_if=[("state", "identified", ["pid"]), ("state", "swept", ["label_prefix"])],
        supports_check_mode=True,
    )
    p = module.params
    try:
        if p["state"] == "identified":
            module.exit_json(changed=False, identity=identify(p["pid"]))
        removed, in_use = sweep(p["label_prefix"], p["build_id"], p["identity"], p["dry_run"] or module.check_mode)
    except (DockerError, OSError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    if in_use:
        module.fail_json(msg="build id %s is in use by a running build: %s; choose another build_id or let it finish"
                         % (p["build_id"], ", ".join(in_use)), removed=removed)
    module.exit_json(changed=bool(removed) and not (p["dry_run"] or module.check_mode), removed=removed)


if __name__ == "__main__":
    main()
