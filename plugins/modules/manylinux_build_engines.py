#!/usr/bin/python
"""The build engines: checked before anything starts, and given the build base the components start from."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_build_engines
short_description: Check the build engines, and give each the image its components start from
description:
  - Runs on the controller, with the docker CLI. The engines are the hosts of the inventory group
    C(manylinux_engines) (filter C(manylinux_engine_vars)); the engine C(local), the controller's own
    (its docker CLI's engine, C(DOCKER_HOST) included), is always there and first.
  - C(state=checked) checks every engine (all broken rules at once - an unknown key, C(build_slots) below 1,
    a C(build_cpuset) that is not CPUs and ranges,
    a C(docker_host) that is not C(ssh://), C(tcp://) or C(unix://), TLS files that are not there), then
    asks each for C(docker version); an engine that does not answer fails the build before any work,
    naming it. It returns the engines, C(local) first, each with how its tasks reach it.
  - C(state=provided) gives every engine but C(local) the image O(image) (by its reference, so that it
    keeps its tag) when it does not have O(image_id) - C(docker save) on the controller's engine streamed
    into C(docker load) there - and checks the id it loaded.
options:
  state:
    description: What to do.
    type: str
    choices: [checked, provided]
    required: true
  engines:
    description:
      - For C(checked), the inventory's engine hosts as filter C(manylinux_engine_vars) returns them (C(name), C(vars)).
      - For C(provided), the engines C(checked) returned.
    type: list
    elements: dict
    default: []
  local_slots:
    description: For C(checked), the slots of the local engine when the inventory does not set its C(build_slots) (0 leaves it to the plan).
    type: int
    default: 0
  image:
    description: For C(provided), the reference of the image (name and tag).
    type: str
  image_id:
    description: For C(provided), its id.
    type: str
"""

EXAMPLES = r"""
- name: Check the build engines
  manylinux_shared.factory.manylinux_build_engines:
    state: checked
    engines: >-
      {{ groups['manylinux_engines'] | default([])
         | manylinux_shared.factory.manylinux_engine_vars(hostvars, inventory_hostname) }}
  register: engines

- name: Give every engine the build base
  manylinux_shared.factory.manylinux_build_engines:
    state: provided
    engines: "{{ engines.engines }}"
    image: manylinux-shared/cache:manylinux_2_31_x86_64-build-base-0123456789abcdef0123
    image_id: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
"""

RETURN = r"""
engines:
  description:
    - The engines in order, C(local) first - C(name), C(slots) (null - the plan's - for C(local) unless set),
      C(docker_host), C(docker_cert_path), C(cpuset) (C(build_cpuset), empty for any), C(docker_args) (the docker
      CLI's options that reach it) and
      C(environment) (C(DOCKER_HOST) and the TLS settings of the tasks that run docker for it).
  type: list
  elements: dict
  returned: always
provided:
  description: For C(provided), the engines that were given the image.
  type: list
  elements: str
  returned: when state is provided
"""

import subprocess
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_engines import (
    LOCAL, engine_errors, engines_of, not_answering, where)


class EngineError(Exception):
    pass


def checked(engines, local_slots=0, answer=not_answering):
    errors = engine_errors(engines)
    if errors:
        raise EngineError("; ".join(errors))
    result = engines_of(engines, local_slots or None)
    silent = ["%s does not answer: %s" % (where(e), why) for e in result for why in [answer(e)] if why]
    if silent:
        raise EngineError("build engine %s (inventory group manylinux_engines); fix or remove it and run again"
                          % "; ".join(silent))
    return result


def image_id_on(engine, image_id):
    proc = subprocess.run(["docker", *engine["docker_args"], "image", "inspect", "--format", "{{.Id}}", image_id],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return proc.stdout.strip() if proc.returncode == 0 else None


def provide(engine, image, image_id):
    """Stream `docker save image` from the controller's engine into `docker load` on `engine`."""
    with tempfile.TemporaryFile() as save_errors, tempfile.TemporaryFile() as load_errors:
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, stderr=save_errors,
                                stdin=subprocess.DEVNULL)
        load = subprocess.run(["docker", *engine["docker_args"], "load", "--quiet"], stdin=save.stdout,
                              stdout=subprocess.DEVNULL, stderr=load_errors)
        save.stdout.close()
        save.wait()
        for proc, errors, what in ((save, save_errors, "docker save %s" % image),
                                   (load, load_errors, "docker load on engine %s" % where(engine))):
            if proc.returncode != 0:
                errors.seek(0)
                raise EngineError("%s failed: %s" % (what, errors.read().decode("utf-8", "replace").strip()))
    loaded = image_id_on(engine, image)
    if loaded != image_id:
        raise EngineError("engine %s loaded %s as %s, not %s" % (where(engine), image, loaded, image_id))


def provided(engines, image, image_id):
    given = []
    for engine in engines:
        if engine["name"] == LOCAL or image_id_on(engine, image_id) == image_id:
            continue
        provide(engine, image, image_id)
        given.append(engine["name"])
    return given


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", required=True, choices=["checked", "provided"]),
            engines=dict(type="list", elements="dict", default=[]),
            local_slots=dict(type="int", default=0),
            image=dict(type="str"),
            image_id=dict(type="str"),
        ),
        required_if=[("state", "provided", ["image", "image_id"])],
    )
    p = module.params
    try:
        if p["state"] == "checked":
            engines = checked(p["engines"], p["local_slots"])
            module.exit_json(changed=False, engines=engines, msg="build engines: %s" % ", ".join(
                "%s with %s slots" % (where(e), e["slots"] or "build_parallel") for e in engines))
        given = provided(p["engines"], p["image"], p["image_id"])
        module.exit_json(changed=bool(given), engines=p["engines"], provided=given,
                         msg="%s given to %s" % (p["image"], ", ".join(given)) if given else "every engine has %s" % p["image"])
    except EngineError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
