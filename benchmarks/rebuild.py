#!/usr/bin/env python3
"""Benchmark the stage cache: a full build, a no-op rebuild, a rebuild after a python_tools change.

    .venv/bin/python benchmarks/rebuild.py [--policy P --arch A --base-image IMG] [-- ANSIBLE ARGS]

1. full build, every stage made anew (no_cache=true);
2. the same build again: every stage is cached (target: under 30 s);
3. the same build with one python_tools variable changed (as a pin change
   would): only that stage is made again (target: under 5 % of the full build).
Arguments after `--` go to every ansible-playbook run (e.g. the source cache,
the CA bundle, cpython_shared_optimizations=false for a quicker full build).
"""

import argparse
import os
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from buildrun import extra, playbook, stage_summary  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default="manylinux_2_31")
    parser.add_argument("--arch", default="x86_64")
    parser.add_argument("--base-image", default="manylinux-shared/base:bullseye-amd64")
    parser.add_argument("ansible_args", nargs="*", help="after --: more ansible-playbook arguments")
    args = parser.parse_args()
    logs = tempfile.mkdtemp(prefix="manylinux-bench-")
    common = ["-e", "policy=" + args.policy, "-e", "arch=" + args.arch,
              "-e", "base_image=" + args.base_image, "-e", "build_image_owner=benchmark"] + args.ansible_args
    if args.base_image.startswith("manylinux-shared/base:"):
        playbook("base.yml", "-e", "arch=" + args.arch)
    runs = []
    full, _ = playbook("build.yml", *common, *extra(no_cache=True), log=os.path.join(logs, "full.log"))
    runs.append(("full build (no stage reused)", full, None))
    noop, out = playbook("build.yml", *common, log=os.path.join(logs, "noop.log"))
    runs.append(("no-op rebuild (every stage cached)", noop, stage_summary(out)))
    nonce = uuid.uuid4().hex
    tools, out = playbook("build.yml", *common, *extra(python_tools_benchmark_change=nonce),
                          log=os.path.join(logs, "python_tools.log"))
    runs.append(("rebuild after a python_tools change", tools, stage_summary(out)))
    print("\n%-40s %10s %10s  %s" % ("run", "seconds", "of full", "stages"))
    for name, seconds, stages in runs:
        print("%-40s %10.1f %9.1f%%  %s" % (name, seconds, 100.0 * seconds / full,
                                             stages or ""))
    print("\ntargets: no-op < 30 s (%s), python_tools rebuild < 5 %% of full (%s)"
          % ("met" if noop < 30 else "NOT met", "met" if tools < 0.05 * full else "NOT met"))
    print("logs: %s" % logs)


if __name__ == "__main__":
    main()
