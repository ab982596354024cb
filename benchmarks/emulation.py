#!/usr/bin/env python3
"""Benchmark emulation: the same build natively (x86_64) and under qemu-user (armv7l).

    .venv/bin/python benchmarks/emulation.py [--roles toolchain,openssl35] [--offline] [-- ANSIBLE ARGS]

Builds manylinux_2_31 for x86_64 on the offline Debian 11 amd64 base and for
armv7l on the offline Debian 11 armhf base (both made first if missing), with
the same roles and variables and nothing taken from the caches, and prints both wall times
and their ratio. The default roles are the full image content (the full
armv7l build: hours on 2 cores); name fewer for a quicker figure.
--offline builds from the offline source cache with its Debian tarballs
(tests/offline.yml; MANYLINUX_SOURCE_CACHE, default ../shared/sources).

Then, step by step (configure, make, install... of each component, from the
builds' step logs), the seconds of both and their ratio. `--steps X86_LOGS
ARMV7L_LOGS` prints that table alone from existing log directories (for
instance of an armv7l build that stopped part way); each side may name
several, comma-separated, for a build continued from its artifacts in later runs.
"""

import argparse
import glob
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildrun import REPO, extra, playbook  # noqa: E402

BASES = {"x86_64": "manylinux-shared/base:manylinux_2_31-amd64", "armv7l": "manylinux-shared/base:manylinux_2_31-armhf"}


LOG_DIR = re.compile(r"logs of every configure/make step: (\S+?)'?$", re.M)
STEP_END = re.compile(r"^### exit 0 after ([0-9.]+) s$", re.M)


def step_seconds(log_dirs):
    """{step log name: seconds} of the successful steps logged in log_dirs (comma-separated)."""
    seconds = {}
    paths = [path for log_dir in log_dirs.split(",") if log_dir
             for path in sorted(glob.glob(os.path.join(log_dir, "*.log")))]
    for path in paths:
        with open(path, errors="replace") as handle:
            found = STEP_END.findall(handle.read())
        if found:
            seconds[os.path.basename(path)[:-len(".log")]] = sum(float(value) for value in found)
    return seconds


def print_steps(native_dir, emulated_dir):
    native, emulated = step_seconds(native_dir), step_seconds(emulated_dir)
    both = [name for name in native if name in emulated]
    print("\n%-36s %10s %10s %7s" % ("step", "x86_64 s", "armv7l s", "ratio"))
    for name in both:
        ratio = "%6.1fx" % (emulated[name] / native[name]) if native[name] > 0 else "      -"
        print("%-36s %10.1f %10.1f %s" % (name, native[name], emulated[name], ratio))
    total_native = sum(native[name] for name in both)
    total_emulated = sum(emulated[name] for name in both)
    if total_native > 0:
        print("%-36s %10.1f %10.1f %6.1fx" % ("steps of both builds", total_native, total_emulated,
                                              total_emulated / total_native))
    only = [name for name in native if name not in emulated]
    if only:
        print("x86_64 only (the armv7l build did not get there): %s" % ", ".join(only))


def main():
    if sys.argv[1:2] == ["--steps"]:
        if len(sys.argv) != 4:
            raise SystemExit("usage: emulation.py --steps X86_64_LOG_DIR[,DIR...] ARMV7L_LOG_DIR[,DIR...]")
        print_steps(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roles", default="toolchain,openssl35,cpython_shared,interpreters,python_tools")
    parser.add_argument("--offline", action="store_true", help="use tests/offline.yml (offline source cache)")
    parser.add_argument("ansible_args", nargs="*", help="after --: more ansible-playbook arguments")
    args = parser.parse_args()
    roles = [r for r in args.roles.split(",") if r]
    offline = []
    if args.offline:
        os.environ.setdefault("MANYLINUX_SOURCE_CACHE", os.path.join(REPO, "..", "shared", "sources"))
        offline = ["-e", "@" + os.path.join(REPO, "tests", "offline.yml")]
    logs = tempfile.mkdtemp(prefix="manylinux-bench-")
    seconds = {}
    step_logs = {}
    for arch, base in BASES.items():
        playbook("base.yml", "-e", "arch=" + arch)
        seconds[arch], output = playbook(
            "build.yml", "-e", "policy=manylinux_2_31", "-e", "arch=" + arch, "-e", "base_image=" + base,
            "-e", "build_image_owner=benchmark", *extra(build_roles=roles, no_cache=True), *offline,
            *args.ansible_args,
            log=os.path.join(logs, arch + ".log"))
        print("%-7s %8.1f s" % (arch, seconds[arch]), flush=True)
        found = LOG_DIR.search(output)
        step_logs[arch] = found.group(1) if found else None
    print("\nroles: %s" % json.dumps(roles))
    print("armv7l under emulation / x86_64 native: %.1fx" % (seconds["armv7l"] / seconds["x86_64"]))
    print("logs: %s" % logs)
    if all(step_logs.values()):
        print_steps(step_logs["x86_64"], step_logs["armv7l"])


if __name__ == "__main__":
    main()
