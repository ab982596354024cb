"""Who owns a build's containers: the identity of an ansible-playbook run, and the removal of what a run left.

Every container a build starts carries the label ``<label prefix>.controller`` with the identity of the
run that started it, ``<host>/<boot id>/<pid>/<start>`` (the start time of the process in clock ticks
since boot, so that a reused pid is not taken for the controller). The module ``manylinux_controller``
removes the containers of runs that are gone; the callback ``manylinux_cancel`` removes those of its
own run when the run is cancelled.
"""

from __future__ import annotations

import os
import socket
import time

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_docker import DockerError, docker


def _boot_id():
    with open("/proc/sys/kernel/random/boot_id") as handle:
        return handle.read().strip()


def _stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name, or None when there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            stat = handle.read()
    except OSError:
        return None
    # the command name is in parentheses and may hold spaces: the fields follow the last ')'
    return stat.rsplit(")", 1)[1].split()


def _start_ticks(pid):
    """The process's start time (clock ticks since boot), or None when there is no such process."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def children(pid):
    """The pids of the live processes whose parent is `pid`."""
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            # a zombie (state Z) has ended already
            if fields and fields[1] == str(pid) and fields[0] != "Z":
                found.append(int(entry))
    return found


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


def labeled_containers(label_prefix, identity=None):
    """(id, name, controller, build id, keep) of every container with a controller label (or this one)."""
    controller, build, keep = label_prefix + ".controller", label_prefix + ".build-id", label_prefix + ".keep"
    out = docker("ps", "--all", "--no-trunc", "--filter",
                 "label=" + controller + ("=" + identity if identity else ""), "--format",
                 '{{.ID}}\t{{.Names}}\t{{.Label "%s"}}\t{{.Label "%s"}}\t{{.Label "%s"}}' % (controller, build, keep))
    return [tuple(line.split("\t")) for line in out.splitlines() if line.count("\t") == 4]


def sweep(label_prefix, build_id="", identity="", dry_run=False):
    """Remove the containers of dead controllers; return (removed, in_use) as 'name (build id)'."""
    removed, in_use = [], []
    for container, name, owner, build, _ in labeled_containers(label_prefix):
        state = state_of(owner)
        if state == "dead":
            if not dry_run:
                docker("rm", "--force", "--volumes", container, check=False)
            removed.append("%s (%s)" % (name, build))
        elif state == "alive" and build_id and build == build_id and owner != identity:
            in_use.append("%s (%s)" % (name, owner))
    return removed, in_use


def remove_owned(label_prefix, identity, settle=2.0, limit=30.0):
    """Remove the containers of the run `identity` (not those labelled keep), and the untagged images
    its builds committed; a container a killed `docker run` still brings up is caught by passes until
    none came for `settle` seconds (at most `limit`). Returns (removed names, kept names, build ids,
    removed image ids)."""
    removed, kept, builds = [], [], set()
    deadline, quiet_since = time.monotonic() + limit, time.monotonic()
    while True:
        found = [entry for entry in labeled_containers(label_prefix, identity) if entry[1] not in kept]
        for container, name, _, build, keep in found:
            builds.add(build)
            if keep == "true":
                kept.append(name)
                continue
            docker("rm", "--force", "--volumes", container, check=False)
            if name not in removed:
                removed.append(name)
        now = time.monotonic()
        if found:
            quiet_since = now
        if now - quiet_since >= settle or now >= deadline:
            break
        time.sleep(0.5)
    images = []
    for build in sorted(builds):
        # a commit that the cancel cut off before its tag
        out = docker("images", "--quiet", "--no-trunc", "--filter", "dangling=true",
                     "--filter", "label=%s.build-id=%s" % (label_prefix, build), check=False)
        for image in out.split():
            try:
                docker("rmi", image)
            except DockerError:
                continue
            images.append(image)
    return removed, kept, sorted(builds), images
