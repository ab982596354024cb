#!/usr/bin/env python3
"""Benchmark emulation: the same build natively (x86_64) and under qemu-user (armv7l).

    .venv/bin/python benchmarks/emulation.py [--roles toolchain,openssl35] [--offline] [-- ANSIBLE ARGS]

Builds manylinux_2_31 for x86_64 on the offline Debian 11 amd64 base and for
armv7l on the offline Debian 11 armhf base (both made first if missing), with
the same roles and variables and no stage reused, and prints both wall times
and their ratio. The default roles are the full image content (the full
armv7l build: hours on 2 cores); name fewer for a quicker figure.
--offline builds from the offline source cache with its Debian tarballs
(tests/offline.yml; MANYLINUX_SOURCE_CACHE, default ../shared/sources).
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildrun import REPO, extra, playbook  # noqa: E402

BASES = {"x86_64": "manylinux-shared/base:bullseye-amd64", "armv7l": "manylinux-shared/base:bullseye-armhf"}


def main():
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
    for arch, base in BASES.items():
        playbook("base.yml", "-e", "arch=" + arch)
        seconds[arch], _ = playbook(
            "build.yml", "-e", "policy=manylinux_2_31", "-e", "arch=" + arch, "-e", "base_image=" + base,
            "-e", "build_image_owner=benchmark", *extra(build_roles=roles, no_cache=True), *offline,
            *args.ansible_args,
            log=os.path.join(logs, arch + ".log"))
        print("%-7s %8.1f s" % (arch, seconds[arch]), flush=True)
    print("\nroles: %s" % json.dumps(roles))
    print("armv7l under emulation / x86_64 native: %.1fx" % (seconds["armv7l"] / seconds["x86_64"]))
    print("logs: %s" % logs)


if __name__ == "__main__":
    main()
