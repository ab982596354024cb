#!/usr/bin/env python3
"""Benchmark: one shared CPython build, build steps against Ansible's overhead.

Runs role cpython_shared for ONE version in a fresh container made from a
prepared build: a stage image of the stage cache whose last role is openssl35
(--image manylinux-shared/stage:<policy>_<arch>-openssl35-<key>), or a copy
of a build container the toolchain and openssl35 roles already ran in
(--container NAME, e.g. kept with -e build_keep_container=true). That
version's manifest is removed first, so that it really builds. Prints the
seconds of each build step (manylinux_build_step's `seconds`), their sum, the
wall time of the role and the ratio of the two, the largest other tasks, and
then the time of a rerun, which builds nothing (the manifest check).

    .venv/bin/python benchmarks/cpython_shared_build.py --image STAGE_IMAGE \\
        --policy manylinux_2_31 --arch x86_64 [--version 3.13.14] [--optimizations]

The fresh container (and the copy's image) are removed afterwards; the
prepared container or image is not changed.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = ("configure", "make", "install", "post-install")

PLAYBOOK = """---
- name: Prepare (facts, CA bundle), as the provision play does
  hosts: manylinux_build
  environment: "{{ build_task_environment }}"
  tasks:
    - name: Hand the build the extra CA bundle
      ansible.builtin.copy:
        src: "{{ build_ca_bundle }}"
        dest: "{{ build_ca_bundle_remote_path }}"
        mode: "0644"
      when: build_ca_bundle | length > 0

- name: Role cpython_shared
  hosts: manylinux_build
  gather_facts: false
  environment: "{{ build_task_environment }}"
  tasks:
    - name: Apply cpython_shared
      ansible.builtin.include_role:
        name: cpython_shared
"""


def docker(*args, check=True):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True)


def ansible_playbook():
    beside = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return beside if os.path.exists(beside) else shutil.which("ansible-playbook") or "ansible-playbook"


def parse_time(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def seconds(duration):
    return (parse_time(duration["end"]) - parse_time(duration["start"])).total_seconds()


def run_playbook(workdir, container, extra_vars, label):
    """Run the benchmark playbook; return (wall seconds, the json callback's report)."""
    inventory = os.path.join(workdir, "hosts.yml")
    with open(inventory, "w") as handle:
        handle.write("all:\n  children:\n    manylinux_build:\n      hosts:\n        %s: {}\n" % container)
    playbook = os.path.join(workdir, "benchmark.yml")
    with open(playbook, "w") as handle:
        handle.write(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"),
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    args = [ansible_playbook(), "-i", os.path.join(REPO, "inventories", "default", "hosts.yml"),
            "-i", inventory, playbook, "-e", json.dumps(extra_vars)]
    print("%s: running cpython_shared ..." % label, file=sys.stderr, flush=True)
    start = time.monotonic()
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        sys.exit("ansible-playbook printed no JSON report (exit %d):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))
    if proc.returncode != 0:
        failures = [(task["task"]["name"], result.get("msg", ""))
                    for play in report["plays"] for task in play["tasks"]
                    for result in task["hosts"].values() if result.get("failed")]
        sys.exit("%s failed (exit %d): %s" % (label, proc.returncode, failures))
    return wall, report


def analyse(report):
    """Step seconds (by step kind), the role's wall seconds, the changed count, the other tasks' seconds."""
    role_play = report["plays"][-1]
    steps = dict.fromkeys(STEPS, 0.0)
    others = []
    for task in role_play["tasks"]:
        step = False
        for result in task["hosts"].values():
            if result.get("action") == "manylinux_build_step" and "seconds" in result:
                kind = result["log"].rsplit("_", 1)[-1][:-len(".log")]
                steps[kind] = steps.get(kind, 0.0) + result["seconds"]
                step = True
        if not step and "end" in task["task"]["duration"]:
            others.append((seconds(task["task"]["duration"]), task["task"]["name"]))
    changed = sum(host["changed"] for host in report["stats"].values())
    return steps, seconds(role_play["play"]["duration"]), changed, sorted(others, reverse=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    prepared = parser.add_mutually_exclusive_group(required=True)
    prepared.add_argument("--image", help="prepared image, e.g. the openssl35 stage of the stage cache")
    prepared.add_argument("--container",
                          help="prepared build container (toolchain and openssl35 applied, bootstrap Python present)")
    parser.add_argument("--policy", required=True)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--version", default="3.13.14", help="CPython release (default %(default)s)")
    parser.add_argument("--free-threading", action="store_true")
    parser.add_argument("--optimizations", action="store_true", help="PGO + LTO as in real images (slow)")
    parser.add_argument("--source-cache", default=os.environ.get("MANYLINUX_SOURCE_CACHE"),
                        help="source cache (default $MANYLINUX_SOURCE_CACHE, else the inventory's)")
    parser.add_argument("--ca-bundle", default=os.environ.get("MANYLINUX_CA_BUNDLE", ""),
                        help="extra CA bundle for pip in the container (default $MANYLINUX_CA_BUNDLE)")
    parser.add_argument("--jobs", type=int, default=0, help="make -j (default: the container's cores)")
    parser.add_argument("--no-rerun", action="store_true", help="skip the second, idempotent run")
    options = parser.parse_args()

    entry = {"version": options.version, "free_threading": options.free_threading}
    minor = ".".join(options.version.split(".")[:2])
    component = "shared-cpython-%s%s" % (minor, "-nogil" if options.free_threading else "")
    extra_vars = {
        "policy": options.policy, "arch": options.arch, "build_jobs": options.jobs,
        "cpython_shared_versions": [entry], "cpython_shared_optimizations": options.optimizations,
        "build_ca_bundle": options.ca_bundle,
    }
    if options.source_cache:
        extra_vars["build_source_cache"] = options.source_cache

    tag = "manylinux-benchmark-%s" % uuid.uuid4().hex[:8]
    image = options.image or "manylinux-shared/benchmark:%s" % tag
    workdir = tempfile.mkdtemp(prefix="cpython-shared-benchmark-")
    extra_vars["build_log_dir"] = os.path.join(workdir, "logs")
    if options.container:
        docker("commit", options.container, image)
    try:
        docker("run", "-d", "--name", tag, "--entrypoint", "tail", image, "-f", "/dev/null")
        # Without its manifest the role must build this version again.
        docker("exec", tag, "rm", "-f", "/opt/_internal/manifests/%s.json" % component)
        wall, report = run_playbook(workdir, tag, extra_vars, "build")
        steps, role, changed, others = analyse(report)
        rerun = None
        if not options.no_rerun:
            rerun_wall, rerun_report = run_playbook(workdir, tag, extra_vars, "rerun")
            rerun = (analyse(rerun_report), rerun_wall)
    finally:
        docker("rm", "-f", tag, check=False)
        if options.container:
            docker("rmi", image, check=False)
        shutil.rmtree(workdir, ignore_errors=True)

    total = sum(steps.values())
    print("shared CPython %s%s for %s_%s, optimizations %s" % (
        options.version, " (free-threading)" if options.free_threading else "", options.policy, options.arch,
        "on" if options.optimizations else "off"))
    for kind in STEPS:
        print("  %-22s %8.1f s" % (kind, steps.get(kind, 0.0)))
    print("  %-22s %8.1f s" % ("build steps, total", total))
    print("  %-22s %8.1f s" % ("role run (wall)", role))
    print("  %-22s %8.1f s  (%.1f %% of the role run)" % ("outside build steps", role - total,
                                                         100.0 * (role - total) / role if role else 0.0))
    print("  %-22s %8.3f" % ("role run / steps", role / total if total else float("nan")))
    print("  largest other tasks (unpacking, pip from PyPI, module round trips):")
    for took, name in others[:5]:
        print("    %6.1f s  %s" % (took, name))
    print("    %6.1f s  %d other tasks" % (sum(took for took, _ in others[5:]), len(others[5:])))
    print("  %-22s %8.1f s  (%d changed)" % ("ansible-playbook (wall)", wall, changed))
    if rerun:
        (rerun_steps, rerun_role, rerun_changed, _), rerun_wall = rerun
        print("  %-22s %8.1f s  (role %.1f s, %d changed, %.1f s in build steps)" % (
            "rerun, nothing to build", rerun_wall, rerun_role, rerun_changed, sum(rerun_steps.values())))


if __name__ == "__main__":
    main()
