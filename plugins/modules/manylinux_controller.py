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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_owner import identify, sweep
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_docker import DockerError


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
