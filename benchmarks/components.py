#!/usr/bin/env python3
"""Benchmark the component engine, side by side in one run.

    .venv/bin/python benchmarks/components.py [--skip-sequential] [--skip-peer] [--skip-registry] [--engines]
        [--resume WORK] [--write-markdown docs/BENCHMARKS.md] [-- ANSIBLE ARGS]

On the offline default image (tests/offline.yml, no PGO), each cold build
with an empty artifact cache and a cache repository of its own (so the bases
and layers are made anew too):

1. cold, build_parallel=1 (one component after another, make -j<cores>);
2. cold, the default build_parallel;
3. the same build again (no-op: every key matches);
4. one interpreter changed (an extra configure option for 3.14t): it and what
   needs it are rebuilt;
5. python_tools changed (its manifest version follows another tool): only
   that component and the image's last layers;
6. the BuildKit peer: the plan of run 2 as a plain multi-stage Dockerfile
   (benchmarks/buildkit_peer.py), built cold;
7. a fresh CI runner against a warm artifact registry: a registry on this
   machine (Debian's docker-registry, as the integration tests start it) is
   given what a CI job's cold build pushes (every artifact of the runs before,
   the runtime and build bases), the engine forgets them (the bases, layers,
   images and BuildKit cache of the runs before), and run 5's build runs with
   an empty artifact cache, a cache repository of its own and
   build_artifact_registry: it pulls the bases and the components, builds
   none and assembles the image (the offline base image, what a runner pulls
   from upstream, stays);
8. with --engines: cold, every component container pinned to one core
   (build_cpuset 0 of the engine `local`, one slot);
9. with --engines: cold on two engines, one core each: `local` as in run 8
   and a second Docker engine on this machine (tests/integration/services.py,
   as the integration tests start it) with build_cpuset 1, one slot; the
   bases and the image are made unpinned on `local` in both.

For each it prints the wall time, the sum of the step seconds of the
components it built (wall / steps: the engine's overhead), how busy the cores
were on average, the image size, and at the end the targets with met or the
gap; then, for each build, its phases in seconds (from the engine's own
timings: the callback manylinux_timings records every task on every host):
the plays before and after the components as wall seconds, the components'
tasks as seconds summed over the components (they overlap), grouped by what
they do. Arguments after `--` go to every ansible-playbook run.
"""

import argparse
import base64
import glob
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import buildkit_peer  # noqa: E402
from buildrun import REPO, docker_output, extra, playbook  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.join(REPO, "collections"))  # the collection's module_utils, as the unit tests find them
from services import SecondEngine, serve_registry, stop_registry  # noqa: E402
from ansible_collections.manylinux_shared.factory.plugins.module_utils import (  # noqa: E402
    manylinux_artifact_registry as artifact_registry)

BASE = "manylinux-shared/base:manylinux_2_31-amd64"
# the size of the offline default image on HEAD efc858f, the last commit with the role-level stage
# cache (as the issue that asked for the engine measured it)
BEFORE_MB = 1817


class CpuSampler(threading.Thread):
    """Average share of the cores that were busy while it ran (from /proc/stat)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.busy = self.total = 0

    @staticmethod
    def read():
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        idle = values[3] + values[4]
        return sum(values) - idle, sum(values)

    def run(self):
        start = self.read()
        while not self.stop.wait(1):
            pass
        end = self.read()
        self.busy, self.total = end[0] - start[0], end[1] - start[1]

    def percent(self):
        return 100.0 * self.busy / self.total if self.total else 0.0


def built_steps(cache_dir, build_log_dir):
    """{component: step seconds} of what the build whose log directory is given stored in the cache."""
    build_id = os.path.basename(build_log_dir.rstrip("/"))
    found = {}
    for path in glob.glob(os.path.join(cache_dir, "*", "artifact.json")):
        with open(path) as handle:
            meta = json.load(handle)
        if meta.get("build_id") == build_id:
            found[meta["name"]] = float(meta.get("seconds", 0))
    return found


def log_dir(output):
    for line in output.splitlines():
        if "logs of every configure/make step:" in line:
            return line.split("step:", 1)[1].strip(" '\",")
    raise SystemExit("no log directory in the output")


MARKER = "benchmarks/components.py"

# The plays of playbooks/build.yml, in order, by the phase they are; their seconds are wall seconds.
PLAY_PHASES = {
    "Start a manylinux-shared build": "start (checks, sources, plan of the bases)",
    "Make the runtime and build bases": "bases",
    "Plan the components": "plan",
    "Build the components": "components (wall)",
    "Assemble the image": "assembly (layers)",
    "Provision the build container": "provision (roles' last tasks)",
    "Finalize the build container": "finalize",
    "Commit the image": "SBOM, commit, tag",
}
# The tasks of one component (roles/component_build/tasks/main.yml) by what they do; seconds summed over
# the components. A task not named here counts as "other".
COMPONENT_PHASES = {
    "Wait for the component's turn": "waiting for a turn",
    "Start the component's build container": "container start",
    "Bring in the artifacts the component needs": "importing inputs",
    "Make the work directories and mark where the component's build starts": "container start",
    "Bring in the component's sources and files": "sources in",
    "Run the component's steps": "steps",
    "Pack the component": "packing and hashing",
    "Store the component's artifact": "packing and hashing",
    "Fetch the component's logs": "logs and removal",
    "Remove the component's build container": "logs and removal",
    "Give the component's turn back": "logs and removal",
}


def phases(path):
    """[(phase, seconds)] of one build from the timings the callback wrote."""
    try:
        with open(path) as handle:
            records = json.load(handle)
    except (OSError, ValueError):
        return []
    spans, summed = {}, {}
    for record in records:
        phase = PLAY_PHASES.get(record["play"], "other plays")
        first, last = spans.get(phase, (record["start"], record["start"]))
        spans[phase] = (min(first, record["start"]), max(last, record["start"] + record["seconds"]))
        if record["play"] == "Build the components" and record["host"] != "localhost":
            # the callback names a role's task "<role> : <task>"
            name = "  " + COMPONENT_PHASES.get(record["task"].split(" : ", 1)[-1], "other")
            summed[name] = summed.get(name, 0.0) + record["seconds"]
    order = list(PLAY_PHASES.values()) + ["other plays"]
    rows = []
    for phase in sorted(spans, key=order.index):
        rows.append((phase, spans[phase][1] - spans[phase][0]))
        if phase == "components (wall)":
            rows += sorted(summed.items(), key=lambda item: -item[1])
    return rows


def markdown_table(rows):
    """The runs as the Markdown table of docs/BENCHMARKS.md, with the commit and day they were measured at."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    lines = ["At commit %s, %s:" % (commit or "unknown", time.strftime("%Y-%m-%d", time.gmtime())), "",
             "| run | seconds | step seconds | wall / steps | cores busy | image MB |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append("| %s | %.0f | %s | %s | %.0f %% | %.0f |" % (
            row["run"], row["seconds"], "%.0f" % row["steps"] if row["steps"] else "-",
            "%.2f" % (row["seconds"] / row["steps"]) if row["steps"] else "-", row["busy"], row["size"]))
    measured = [row for row in rows if row.get("phases")]
    if measured:
        names = []
        for row in measured:
            names += [name for name, _ in row["phases"] if name not in names]
        lines += ["", "Phases in seconds (plays as wall seconds; a component's tasks summed over the components):", "",
                  "| phase | " + " | ".join("run %s" % row["run"].split()[0] for row in measured) + " |",
                  "| --- |" + " ---: |" * len(measured)]
        for name in names:
            label = name.strip() if name == name.lstrip() else "&nbsp;&nbsp;" + name.strip()
            lines.append("| %s | " % label + " | ".join(
                "%.0f" % dict(row["phases"])[name] if name in dict(row["phases"]) else "-" for row in measured) + " |")
    return "\n".join(lines)


def write_markdown(path, table):
    """Replace what stands between the two markers of `path` with `table`."""
    begin, end = "<!-- %s: begin -->" % MARKER, "<!-- %s: end -->" % MARKER
    with open(path) as handle:
        text = handle.read()
    if begin not in text or end not in text:
        raise SystemExit("%s has no %s ... %s markers to write the table between" % (path, begin, end))
    head, rest = text.split(begin, 1)
    with open(path, "w") as handle:
        handle.write(head + begin + "\n" + table + "\n" + end + rest.split(end, 1)[1])


def warm_registry(work, cache, repository):
    """A registry on this machine holding what a CI job's cold build pushes there (every artifact of `cache`, the
    runtime and build bases of `repository`), and nothing of that build left on the engine (the bases and layers
    of `repository`): (registry process, its address, build_artifact_registry, the DOCKER_CONFIG logged in to it)."""
    (pathlib.Path(work) / "registry").mkdir(exist_ok=True)
    proc, registry = serve_registry(pathlib.Path(work) / "registry")
    config = os.path.join(work, "docker")
    os.makedirs(config, exist_ok=True)
    auth = base64.b64encode(("%s:%s" % (registry["user"], registry["password"])).encode()).decode()
    with open(os.path.join(config, "config.json"), "w") as handle:
        json.dump({"auths": {registry["address"]: {"auth": auth}}}, handle)
    target = registry["address"] + "/cache"
    client = artifact_registry.client_for(target, registry["user"], registry["password"], insecure=True)
    for path in sorted(glob.glob(os.path.join(cache, "*", "artifact.json"))):
        artifact_registry.push(client, os.path.dirname(path))
    env = dict(os.environ, DOCKER_CONFIG=config)
    tags = docker_output("images", repository, "--format", "{{.Repository}}:{{.Tag}}").split()
    for tag in [t for t in tags if "-base-" in t]:
        remote = target + ":" + tag.split(":", 1)[1]
        for args in (["tag", tag, remote], ["push", remote], ["rmi", remote]):
            subprocess.run(["docker", *args], env=env, check=True, stdout=subprocess.DEVNULL)
    if tags:
        docker_output("rmi", *tags)
    return proc, registry["address"], target, config


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-sequential", action="store_true", help="leave out run 1")
    parser.add_argument("--skip-peer", action="store_true", help="leave out run 6")
    parser.add_argument("--skip-registry", action="store_true", help="leave out run 7")
    parser.add_argument("--engines", action="store_true", help="also runs 8 and 9 (on this machine about as long as "
                        "three cold builds)")
    parser.add_argument("--resume", metavar="WORK", help="only the runs from 7 on, after those of an earlier benchmark "
                        "whose log directory WORK is (the one it printed last); all are printed")
    parser.add_argument("--write-markdown", metavar="FILE", help="also put the table into FILE (docs/BENCHMARKS.md)"
                        " between its %s markers" % MARKER)
    parser.add_argument("ansible_args", nargs="*", help="after --: more ansible-playbook arguments")
    args = parser.parse_args()
    sources = os.environ.get("MANYLINUX_SOURCE_CACHE") or os.path.join(os.path.dirname(REPO), "shared", "sources")
    os.environ["MANYLINUX_SOURCE_CACHE"] = sources
    ca_bundle = os.environ.get("MANYLINUX_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    ca_bundle = ca_bundle if ca_bundle and os.path.isfile(ca_bundle) else ""
    if args.resume:
        work = args.resume
        with open(os.path.join(work, "results.json")) as handle:
            rows = json.load(handle)
        with open(os.path.join(work, "benchmark.json")) as handle:
            owner = json.load(handle)["owner"]
    else:
        work = tempfile.mkdtemp(prefix="manylinux-bench-")
        owner = "benchmark-" + uuid.uuid4().hex[:6]
        with open(os.path.join(work, "benchmark.json"), "w") as handle:
            json.dump({"owner": owner}, handle)
        rows = []
    playbook("base.yml", "-e", "arch=x86_64")
    ref = "ghcr.io/%s/manylinux_2_31_x86_64-shared:latest" % owner
    common = ["-e", "policy=manylinux_2_31", "-e", "arch=x86_64", "-e", "base_image=" + BASE,
              "-e", "@tests/offline.yml", "-e", "cpython_shared_optimizations=false",
              "-e", "build_image_owner=" + owner, "-e", "build_log_root=" + os.path.join(work, "logs")]
    common += ["-e", "build_ca_bundle=" + ca_bundle] if ca_bundle else []
    common += args.ansible_args

    def run(label, cache, repository, *more):
        sampler = CpuSampler()
        sampler.start()
        timings = os.path.join(work, label.split()[0] + "-timings.json")
        os.environ["MANYLINUX_TIMINGS_FILE"] = timings
        seconds, output = playbook("build.yml", *common, *extra(build_artifact_cache=cache,
                                                                 build_cache_repository=repository), *more,
                                   log=os.path.join(work, label.split()[0] + ".log"))
        sampler.stop.set()
        sampler.join()
        logs = log_dir(output)
        steps = built_steps(cache, logs)
        size = int(docker_output("image", "inspect", ref, "--format", "{{.Size}}") or 0) / 1e6
        rows.append({"run": label, "seconds": seconds, "steps": sum(steps.values()), "built": steps,
                     "busy": sampler.percent(), "size": size, "logs": logs, "phases": phases(timings)})
        print("%s: %.0f s" % (label, seconds), flush=True)
        return rows[-1]

    caches = {name: os.path.join(work, "artifacts-" + name) for name in ("sequential", "parallel", "fresh")}
    repository = "benchmark/%s-parallel" % owner
    with open(os.path.join(REPO, "tests", "offline.yml")) as handle:
        versions = yaml.safe_load(handle)["interpreters_versions"]
    changed = [dict(v, configure_options=["--without-doc-strings"]) if v.get("free_threading") else v
               for v in versions]
    last_change = extra(interpreters_versions=changed, python_tools_manifest_version_from="cmake")
    if not args.resume:
        if not args.skip_sequential:
            run("1 cold, build_parallel=1", caches["sequential"], "benchmark/%s-sequential" % owner,
                *extra(build_parallel=1))
        run("2 cold, default build_parallel", caches["parallel"], repository)
        run("3 no-op rebuild", caches["parallel"], repository)
        run("4 one interpreter changed (3.14t)", caches["parallel"], repository, *extra(interpreters_versions=changed))
        run("5 python_tools changed", caches["parallel"], repository, *last_change)
        if not args.skip_peer:
            rows.append(peer_run(work, rows, repository, sources, ca_bundle))
    if not args.skip_registry:
        # so do the image of run 5 and the peer's, and BuildKit's cache: their layers are the bases'
        docker_output("rmi", ref, "benchmark/buildkit-peer")
        subprocess.run([buildkit_peer.DOCKER, "builder", "prune", "--all", "--force"], stdout=subprocess.DEVNULL)
        proc, address, target, config = warm_registry(work, caches["parallel"], repository)
        os.environ["DOCKER_CONFIG"] = config
        try:
            run("7 fresh runner, warm registry", caches["fresh"], "benchmark/%s-fresh" % owner, *last_change,
                *extra(build_artifact_registry=target))
        finally:
            del os.environ["DOCKER_CONFIG"]
            stop_registry(proc, address)
    if args.engines:
        engine_runs(run, work, owner)
    report(rows, args, work)
    docker_output("rmi", ref)


def engine_runs(run, work, owner):
    """Runs 8 and 9: cold, the component containers pinned to one core, on the local engine only and then on it
    and a second engine of this machine pinned to the other core."""
    def inventory(name, engines):
        path = os.path.join(work, name + ".json")
        with open(path, "w") as handle:
            json.dump({"all": {"children": {"manylinux_engines": {"hosts": engines}}}}, handle)
        return ["-i", os.path.join(REPO, "inventories", "default", "hosts.yml"), "-i", path]

    local = {"local": {"build_slots": 1, "build_cpuset": "0"}}
    run("8 one engine, one core", os.path.join(work, "artifacts-one-engine"), "benchmark/%s-one-engine" % owner,
        *inventory("one-engine", local))
    engine = SecondEngine(os.path.join(work, "engine2.log"))
    engine.start()
    try:
        second = {engine.name: {"docker_host": engine.socket, "build_slots": 1, "build_cpuset": "1"}}
        run("9 two engines, one core each", os.path.join(work, "artifacts-two-engines"),
            "benchmark/%s-two-engines" % owner, *inventory("two-engines", dict(local, **second)))
    finally:
        engine.close()


def peer_run(work, rows, repository, sources, ca_bundle):
    """Run 6: the BuildKit peer of run 2's plan, on the bases the engine made."""
    tags = docker_output("images", repository, "--format", "{{.Repository}}:{{.Tag}}").split()
    runtime = [t for t in tags if "-runtime-base-" in t][0]
    build = [t for t in tags if "-build-base-" in t][0]
    cold = [row for row in rows if row["run"].startswith("2 ")][0]
    sampler = CpuSampler()
    sampler.start()
    try:
        seconds, context = buildkit_peer.build(os.path.join(cold["logs"], "build-plan.json"), BASE, runtime,
                                               build, sources, ca_bundle, keep=os.path.join(work, "peer"))
    except SystemExit as error:   # the figures of the other runs are still printed
        print(error, file=sys.stderr)
        seconds, context = float("nan"), os.path.join(work, "peer")
    sampler.stop.set()
    sampler.join()
    size = int(docker_output("image", "inspect", "benchmark/buildkit-peer", "--format", "{{.Size}}") or 0) / 1e6
    return {"run": "6 BuildKit peer, cold", "seconds": seconds, "steps": 0, "built": {}, "busy": sampler.percent(),
            "size": size, "logs": context}


def report(rows, args, work):
    """Print the runs, their phases and the targets; write the table and results.json."""
    print("\n%-36s %8s %9s %8s %7s %9s  %s" % ("run", "seconds", "steps s", "wall/st", "busy", "image MB", "built"))
    for row in rows:
        print("%-36s %8.0f %9.0f %8s %6.0f%% %9.0f  %s" % (
            row["run"], row["seconds"], row["steps"],
            "%.2f" % (row["seconds"] / row["steps"]) if row["steps"] else "-", row["busy"], row["size"],
            ", ".join(sorted(row["built"])) or "nothing"))

    print("\nphases (seconds; the components' tasks summed over the components):")
    measured = [row for row in rows if row.get("phases")]
    names = []
    for row in measured:
        names += [name for name, _ in row["phases"] if name not in names]
    print("%-46s" % "phase" + "".join("%9s" % row["run"].split()[0] for row in measured))
    for name in names:
        print("%-46s" % name + "".join("%9s" % ("%.0f" % dict(row["phases"])[name] if name in dict(row["phases"])
                                                 else "-") for row in measured))

    def verdict(ok):
        return "met" if ok else "NOT met"

    by_number = {row["run"].split()[0]: row for row in rows}
    sequential, cold, noop, one, tools, peer, fresh, one_core, two_engines = (by_number.get(n) for n in "123456789")
    print("\ntargets:")
    if sequential:
        print("  cold default >= 1.25x faster than build_parallel=1: %.2fx (%s)" % (
            sequential["seconds"] / cold["seconds"], verdict(sequential["seconds"] >= 1.25 * cold["seconds"])))
    if peer:
        print("  cold default no slower than the BuildKit peer: %.0f s against %.0f s (%s)" % (
            cold["seconds"], peer["seconds"], verdict(cold["seconds"] <= peer["seconds"])))
    own = one["built"].get("cpython-3.14.6-nogil", 0)
    print("  one-interpreter change within its own step seconds + 60 s: %.0f s against %.0f + 60 s (%s)" % (
        one["seconds"], own, verdict(one["seconds"] <= own + 60)))
    print("  no-op rebuild under 15 s: %.1f s (%s)" % (noop["seconds"], verdict(noop["seconds"] < 15)))
    print("  python_tools change under 5 %% of the cold build: %.1f %% (%s)" % (
        100 * tools["seconds"] / cold["seconds"], verdict(tools["seconds"] < 0.05 * cold["seconds"])))
    print("  image smaller than before (%d MB): %.0f MB (%s)" % (BEFORE_MB, cold["size"], verdict(cold["size"] < BEFORE_MB)))
    if fresh:
        print("  fresh runner, warm registry, at most 10 %% of the cold build, building nothing: %.1f %%, built %s (%s)"
              % (100 * fresh["seconds"] / cold["seconds"], ", ".join(sorted(fresh["built"])) or "nothing",
                 verdict(fresh["seconds"] <= 0.1 * cold["seconds"] and not fresh["built"])))
    if one_core and two_engines:
        print("  two engines, one core each, at least 1.7x faster than one engine, one core: %.2fx (%s)" % (
            one_core["seconds"] / two_engines["seconds"], verdict(one_core["seconds"] >= 1.7 * two_engines["seconds"])))
    if args.write_markdown:
        write_markdown(args.write_markdown, markdown_table(rows))
        print("table written to %s" % args.write_markdown)
    print("\nlogs: %s" % work)
    with open(os.path.join(work, "results.json"), "w") as handle:
        json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
