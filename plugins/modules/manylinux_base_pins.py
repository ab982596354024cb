#!/usr/bin/python
"""Pin the base images of the policy table to the manifest digests their tags have in the registries."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_base_pins
short_description: Pin the policy table's base images by digest (C(name:tag@sha256:...))
description:
  - Reads the policy table O(policies_file) (C(build_policy_table)) and, for every C(base_image) of a policy and of
    its arches (only those of O(policies) when given), asks the image's registry for the manifest digest of its tag
    (C(HEAD /v2/<repository>/manifests/<tag>); a multi-arch tag's is its index's) and writes C(name:tag@<digest>).
  - An entry pinned already is resolved again from its tag, and moved when the tag moved; an unchanged one is left as
    it is. Images of O(local_repositories) (the offline bases, made on this host) are never asked for and stay.
  - Every entry is resolved before anything is written. A registry that cannot be reached, refuses, or lacks the tag
    fails the module naming the image and the policy, and nothing is rewritten; so does an entry that is no image
    reference or has no tag to resolve.
  - The file is edited as YAML data with ruamel.yaml's round trip, so comments, order, quoting and anchors stay;
    the result is read back and must be the table with only the pins changed, then replaces the file atomically.
  - In check mode it only reports what would be pinned or moved.
  - Credentials, never logged nor returned, are O(username) and O(password) for the registry O(login_registry), else
    those C(docker login) stored for the image's registry in the Docker client configuration O(docker_config) (its
    C(auths); credential helpers are not asked), else none.
options:
  policies_file:
    description: The policy table file (C(inventories/default/group_vars/all/policies.yml)).
    type: path
    required: true
  policies:
    description: Only these policies (empty, all); an unknown name fails, naming the choices.
    type: list
    elements: str
    default: []
  local_repositories:
    description: Image names (without tag) that no registry has and that stay as they are.
    type: list
    elements: str
    default: []
  insecure_registries:
    description: Registries (C(host:port)) spoken to with plain HTTP (a local test registry).
    type: list
    elements: str
    default: []
  login_registry:
    description: The registry O(username) and O(password) are for.
    type: str
    default: ""
  username:
    description: User at O(login_registry) (empty, the Docker client configuration's or anonymous).
    type: str
    default: ""
  password:
    description: The password or token of O(username); never logged.
    type: str
    default: ""
  docker_config:
    description: The Docker client configuration directory (empty, C($DOCKER_CONFIG) or C(~/.docker)).
    type: path
    default: ""
  timeout:
    description: Seconds a registry request may take.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Pin every base image of the policy table to its tag's digest
  manylinux_shared.factory.manylinux_base_pins:
    policies_file: inventories/default/group_vars/all/policies.yml
    local_repositories: [manylinux-shared/base]
    login_registry: ghcr.io
    username: "{{ lookup('ansible.builtin.env', 'MANYLINUX_REGISTRY_USER') }}"
    password: "{{ lookup('ansible.builtin.env', 'MANYLINUX_REGISTRY_PASSWORD') }}"
  register: pins

- name: Pin one policy's base from a local test registry
  manylinux_shared.factory.manylinux_base_pins:
    policies_file: /tmp/policies.yml
    policies: [manylinux2014]
    insecure_registries: ["127.0.0.1:5000"]
"""

RETURN = r"""
pins:
  description: One entry per base image looked at.
  type: list
  elements: dict
  returned: success
  contains:
    policy: {description: The policy., type: str}
    arch: {description: The arch whose entry it is (empty, the policy's own)., type: str}
    image: {description: The reference as the table had it., type: str}
    pinned: {description: The reference written (the same when current or held)., type: str}
    digest: {description: The tag's digest in the registry (empty when held)., type: str}
    status: {description: "C(pinned) (had no digest), C(moved) (its tag moved), C(current) or C(held) (a local image).",
             type: str}
rewritten:
  description: The files rewritten (none in check mode or when nothing changed).
  type: list
  elements: str
  returned: success
summary:
  description: One line per base image.
  type: list
  elements: str
  returned: success
"""

import os
import re
import urllib.error

import yaml
from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_image_ref import (
    DIGEST,
    ReferenceError,
    parse,
)
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_registry import (
    Registry,
    credentials_for,
)

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_yaml_edit import (
    EditError,
    dump,
    load,
    same_style,
    write_atomically,
)

TABLE = "build_policy_table"


class PinError(Exception):
    pass


def base_entries(table):
    """(policy, arch, mapping holding base_image) of every base_image of the table, the policy's own first."""
    for policy, entry in table.items():
        if not isinstance(entry, dict):
            continue
        if "base_image" in entry:
            yield policy, "", entry
        for arch, arch_entry in (entry.get("arches") or {}).items():
            if isinstance(arch_entry, dict) and "base_image" in arch_entry:
                yield policy, arch, arch_entry


def credentials(params, registry):
    """(username, password) for a registry: the given ones at login_registry, else the Docker config's."""
    return credentials_for(registry, params["username"], params["password"], params["login_registry"],
                           params["docker_config"])


def registry_resolver(params, opener=None):
    """resolve(reference) -> the digest of its tag in its registry; PinError naming the image otherwise."""
    unreachable = {}

    def resolve(ref):
        insecure = ref.registry in params["insecure_registries"]
        if ref.registry in unreachable:
            raise PinError("%s: not asked, %s" % (ref.text, unreachable[ref.registry]))
        try:
            username, password = credentials(params, ref.registry)
        except RuntimeError as exc:
            raise PinError("%s: %s" % (ref.text, exc))
        try:
            client = Registry(ref.api_host, ref.repository, username, password, insecure, params["timeout"], opener)
            digest = client.manifest_digest(ref.tag)
        except (urllib.error.URLError, OSError) as exc:
            unreachable[ref.registry] = "cannot reach the registry %s (%s://%s): %s" % (
                ref.registry, "http" if insecure else "https", ref.api_host, getattr(exc, "reason", None) or exc)
            raise PinError("%s: %s" % (ref.text, unreachable[ref.registry]))
        except (RuntimeError, ValueError, KeyError) as exc:
            raise PinError("%s: the registry %s answered: %s" % (ref.text, ref.registry, exc))
        if not digest:
            raise PinError("%s: the registry %s has no tag %s in %s" % (ref.text, ref.registry, ref.tag,
                                                                          ref.repository))
        if not re.fullmatch(DIGEST, digest):
            raise PinError("%s: the registry %s gave the digest %r, not sha256:<64 hex digits>" % (
                ref.text, ref.registry, digest))
        return digest
    return resolve


def plan(table, params, resolve):
    """The pins of every base image: all entries checked first (PinError naming each bad one, before any registry
    is asked), then each image resolved once (PinError listing every one that cannot be)."""
    if not isinstance(table, dict) or not table:
        raise PinError("%s has no %s mapping" % (params["policies_file"], TABLE))
    unknown = sorted(set(params["policies"]) - set(table))
    if unknown:
        raise PinError("unknown policies %s; valid policies: %s" % (", ".join(unknown), ", ".join(sorted(table))))
    entries, errors = [], []
    for policy, arch, holder in base_entries(table):
        if params["policies"] and policy not in params["policies"]:
            continue
        where = policy + ("/" + arch if arch else "")
        try:
            ref = parse(holder["base_image"])
        except ReferenceError as exc:
            errors.append("%s: %s" % (where, exc))
            continue
        if ref.name not in params["local_repositories"] and not ref.tag:
            errors.append("%s: %s has no tag to resolve (name:tag or name:tag@sha256:...)" % (where, ref.text))
        entries.append((where, {"policy": policy, "arch": arch, "image": ref.text, "pinned": ref.text, "digest": "",
                                "holder": holder}, ref))
    if errors:
        raise PinError("nothing was rewritten: " + " | ".join(errors))
    pins, digests = [], {}
    for where, pin, ref in entries:
        if ref.name in params["local_repositories"]:
            pins.append(dict(pin, status="held"))
            continue
        key = (ref.canonical, ref.tag)
        try:
            if key not in digests:
                digests[key] = resolve(ref)
        except PinError as exc:
            errors.append("%s: %s" % (where, exc))
            continue
        pinned = ref.pinned(digests[key])
        status = "current" if pinned == ref.text else ("moved" if ref.digest else "pinned")
        pins.append(dict(pin, pinned=pinned, digest=digests[key], status=status))
    if errors:
        raise PinError("nothing was rewritten: " + " | ".join(errors))
    return pins


def rewrite(path, text, data, pins, round_trip, move):
    """Write the table with the changed pins through a temporary file beside it, moved over it (`move`), after
    reading the result back: it must be the old data with only those base_image values changed."""
    expected = yaml.safe_load(text)
    for pin in pins:
        table = expected[TABLE][pin["policy"]]
        (table["arches"][pin["arch"]] if pin["arch"] else table)["base_image"] = pin["pinned"]
        pin["holder"]["base_image"] = same_style(pin["holder"]["base_image"], pin["pinned"])
    out = dump(round_trip, data)
    if yaml.safe_load(out) != expected:
        raise PinError("nothing was rewritten: the YAML round trip of %s would change more than the pins" % path)
    write_atomically(path, out, move)


def summary(pins, check_mode):
    lines = []
    for pin in pins:
        where = pin["policy"] + ("/" + pin["arch"] if pin["arch"] else "")
        if pin["status"] == "held":
            lines.append("%s: %s held (a local image, never pulled)" % (where, pin["image"]))
        elif pin["status"] == "current":
            lines.append("%s: %s current" % (where, pin["image"]))
        else:
            lines.append("%s: %s %s%s to %s" % (where, pin["image"], "would be " if check_mode else "",
                                                 pin["status"], pin["pinned"]))
    return lines


def run(params, check_mode, resolve=None, move=os.replace):
    """The module's work: its result, or PinError with nothing written."""
    path = params["policies_file"]
    try:
        with open(path) as handle:
            text = handle.read()
        round_trip, data = load(text, "the policy table %s" % path)
    except OSError as exc:
        raise PinError("cannot read the policy table %s: %s" % (path, exc))
    except EditError as exc:
        raise PinError(str(exc))
    pins = plan((data or {}).get(TABLE) if isinstance(data, dict) else None, params,
                resolve or registry_resolver(params))
    changed = [pin for pin in pins if pin["status"] in ("pinned", "moved")]
    rewritten = []
    if changed and not check_mode:
        rewrite(path, text, data, changed, round_trip, move)
        rewritten.append(path)
    for pin in pins:
        pin.pop("holder")
    return {"changed": bool(changed), "pins": pins, "rewritten": rewritten, "summary": summary(pins, check_mode)}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policies_file=dict(type="path", required=True),
            policies=dict(type="list", elements="str", default=[]),
            local_repositories=dict(type="list", elements="str", default=[]),
            insecure_registries=dict(type="list", elements="str", default=[]),
            login_registry=dict(type="str", default=""),
            username=dict(type="str", default=""),
            password=dict(type="str", default="", no_log=True),
            docker_config=dict(type="path", default=""),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module.params, module.check_mode, move=module.atomic_move)
    except PinError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
