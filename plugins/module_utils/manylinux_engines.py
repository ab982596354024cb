"""The build engines: the Docker engines the components of a build are placed on (docs/DESIGN.md, "The scheduler").

An engine is a host of the inventory group `manylinux_engines` with the keys of ENGINE_KEYS. The
engine `local` is always there and first: the controller's own engine (as its docker CLI finds it,
DOCKER_HOST included), where the bases are made, the image is assembled and every component runs
when the group is empty. Every other engine is reached through its `docker_host`.
"""

from __future__ import annotations

import os
import re
import subprocess

# The engine of the controller, always the first.
LOCAL = "local"
# What an engine may set, and what each means (README.md, "Building on several machines").
ENGINE_KEYS = {
    "docker_host": "where its Docker engine listens: ssh://user@host, tcp://host:2376 or unix:///path.sock",
    "build_slots": "how many components build there at once (at least 1)",
    "docker_cert_path": "for tcp:// with TLS, a controller directory with ca.pem, cert.pem and key.pem",
    "build_cpuset": "the CPUs its component containers may use, as docker run --cpuset-cpus takes them (e.g. 0-3,6)",
}
# What the local engine may set: its docker_host is the controller's own.
LOCAL_KEYS = ("build_slots", "build_cpuset")
CPUSET_PATTERN = re.compile(r"^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$")
DOCKER_HOST_PATTERN = re.compile(r"^(ssh://[^\s/]+(:[0-9]+)?|tcp://[^\s/]+:[0-9]+|unix:///\S+)$")
ENGINE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Seconds an engine has to answer `docker version`.
ANSWER_SECONDS = 20


def engine_errors(engines):
    """Every broken rule of the inventory's engines ([{name, vars}], vars being the host's own), at once."""
    errors = []
    for engine in engines:
        name, values = engine["name"], engine.get("vars") or {}
        where = "engine %s (inventory group manylinux_engines)" % name
        if not ENGINE_NAME_PATTERN.match(name):
            errors.append("%s: a name is letters, digits, '.', '_' and '-'" % where)
        unknown = sorted(set(values) - set(ENGINE_KEYS))
        if unknown:
            errors.append("%s: unknown key %s; an engine sets only %s" % (
                where, ", ".join(unknown), ", ".join(sorted(ENGINE_KEYS))))
        slots = values.get("build_slots")
        if slots is not None and (isinstance(slots, bool) or not str(slots).isdigit() or int(slots) < 1):
            errors.append("%s: build_slots=%r is not a whole number of at least 1" % (where, slots))
        cpuset = values.get("build_cpuset")
        if cpuset is not None and not CPUSET_PATTERN.match(str(cpuset)):
            errors.append("%s: build_cpuset=%r is not a list of CPUs and ranges such as 0-3,6" % (where, cpuset))
        host = values.get("docker_host")
        if name == LOCAL:
            if host or values.get("docker_cert_path"):
                errors.append("%s: the local engine is the controller's own (DOCKER_HOST as the docker CLI reads it): "
                              "it sets only %s" % (where, " and ".join(LOCAL_KEYS)))
            continue
        if not host:
            errors.append("%s: docker_host is required (%s)" % (where, ENGINE_KEYS["docker_host"]))
        elif not DOCKER_HOST_PATTERN.match(str(host)):
            errors.append("%s: docker_host=%r is not ssh://user@host, tcp://host:port or unix:///path" % (where, host))
        cert_path = values.get("docker_cert_path")
        if cert_path:
            if not str(host or "").startswith("tcp://"):
                errors.append("%s: docker_cert_path is for a tcp:// docker_host" % where)
            missing = [f for f in ("ca.pem", "cert.pem", "key.pem") if not os.path.isfile(os.path.join(str(cert_path), f))]
            if missing or re.search(r"\s", str(cert_path)):
                errors.append("%s: docker_cert_path=%r is not a directory (without spaces) holding %s" % (
                    where, cert_path, ", ".join(missing or ["ca.pem", "cert.pem", "key.pem"])))
    names = [e["name"] for e in engines]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        errors.append("engines named twice: %s" % ", ".join(twice))
    return errors


def engines_of(engines, local_slots=None):
    """The engines a build uses, in order, `local` first: [{name, slots, docker_host, docker_cert_path, cpuset,
    docker_args, environment}].

    `slots` of the local engine is `local_slots` (the plan's build_parallel) unless the inventory sets it."""
    by_name = {e["name"]: dict(e.get("vars") or {}) for e in engines}
    ordered = [LOCAL] + [e["name"] for e in engines if e["name"] != LOCAL]
    result = []
    for name in ordered:
        values = by_name.get(name, {})
        slots = values.get("build_slots")
        if slots is None:
            slots = local_slots if name == LOCAL else 1
        engine = {"name": name, "slots": None if slots is None else int(slots),
                  "docker_host": "" if name == LOCAL else str(values["docker_host"]),
                  "docker_cert_path": str(values.get("docker_cert_path") or ""),
                  "cpuset": str(values.get("build_cpuset") or "")}
        engine["docker_args"] = docker_args(engine)
        engine["environment"] = docker_environment(engine)
        result.append(engine)
    return result


def docker_args(engine):
    """The docker CLI's global options that reach the engine (none for the local one)."""
    if not engine.get("docker_host"):
        return []
    args = ["--host", engine["docker_host"]]
    cert_path = engine.get("docker_cert_path")
    if cert_path:
        args += ["--tlsverify", "--tlscacert", os.path.join(cert_path, "ca.pem"),
                 "--tlscert", os.path.join(cert_path, "cert.pem"), "--tlskey", os.path.join(cert_path, "key.pem")]
    return args


def docker_environment(engine):
    """The environment that points the docker CLI and the community.docker modules at the engine."""
    if not engine.get("docker_host"):
        return {}
    environment = {"DOCKER_HOST": engine["docker_host"]}
    if engine.get("docker_cert_path"):
        environment.update(DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=engine["docker_cert_path"])
    return environment


def not_answering(engine, timeout=ANSWER_SECONDS, run=subprocess.run):
    """None when the engine answers `docker version`, else why not (one line)."""
    command = ["docker", *(engine.get("docker_args") or docker_args(engine)), "version", "--format", "{{.Server.Version}}"]
    try:
        proc = run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "no answer within %d s" % timeout
    except OSError as exc:
        return str(exc)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout or "exit %d" % proc.returncode).strip().splitlines()
        return lines[-1] if lines else "exit %d" % proc.returncode
    return None


def where(engine):
    """How a message names an engine."""
    return engine["name"] + (" (%s)" % engine["docker_host"] if engine.get("docker_host") else "")
