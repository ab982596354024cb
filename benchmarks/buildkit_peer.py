#!/usr/bin/env python3
"""The BuildKit peer: the components of a build's plan as a plain multi-stage Dockerfile.

    .venv/bin/python benchmarks/buildkit_peer.py PLAN.json --base IMAGE --runtime-base IMAGE
        --build-base IMAGE --source-cache DIR [--ca-bundle PEM] [--tag TAG] [--keep DIR]

One stage per component, as pypa/manylinux's Dockerfile: FROM the build base
stage, the artifacts of what it needs copied in, its sources and files, its
steps in one RUN, then what changed below its prefixes copied to /artifact
(and /artifact-private). The final stage is the runtime base with each
component's /artifact. The runtime and build base stages install the same
packages as the factory's bases (read from their apt-mark showmanual), on the
same offline base image. Built cold (--no-cache) with Debian's docker CLI and
DOCKER_BUILDKIT=1; prints the wall time. The roles' last work (wrappers,
manylinux-interpreters, finalize) is not part of the peer: it is the
factory's own cost.
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else "docker"

PACK = r"""
strip_new() {
  for top do
    [ -d "$top" ] || continue
    find "$top" -type f -cnewer /tmp/peer-marker | while read -r f; do
      case $(head -c 7 "$f" | tr -d '\000') in
        ?ELF*) strip --strip-unneeded "$f" ;;
        '!<arch>') strip --strip-debug "$f" ;;
      esac
    done
  done
}
"""


def packages(image, base):
    def manual(ref):
        out = subprocess.run([DOCKER, "run", "--rm", "--entrypoint", "apt-mark", ref, "showmanual"],
                             capture_output=True, text=True, check=True).stdout
        return set(out.split())
    return sorted(manual(image) - manual(base))


def stage_name(name):
    return "c_" + "".join(ch if ch.isalnum() else "_" for ch in name)


def run_line(component, context, index):
    lines = ["set -e", ". /tmp/peer-lib.sh", "touch /tmp/peer-marker", "sleep 0.01",
             "mkdir -p /tmp/manylinux-build/src /tmp/manylinux-build/logs"]
    tree = "/tmp/manylinux-build"
    for position, source in enumerate(component["sources"]):
        lines.append("tar -C /tmp/manylinux-build/src -xf /tmp/peer-src/%s" % shlex.quote(source["file"]))
        if position == 0:
            lines.append("tree=$(tar -tf /tmp/peer-src/%s | head -1 | cut -d/ -f1)" % shlex.quote(source["file"]))
            tree = "/tmp/manylinux-build/src/$tree"
    for number, item in enumerate(component["files"]):
        lines.append("mkdir -p %s && cp /tmp/peer-files/%d-%d %s && chmod %s %s" % (
            shlex.quote(os.path.dirname(item["dest"])), index, number, shlex.quote(item["dest"]),
            item.get("mode", "0644"), shlex.quote(item["dest"])))
    chdir = component.get("chdir", "")
    where = chdir if chdir.startswith("/") else (tree + ("/" + chdir if chdir else ""))
    env = " ".join("%s=%s" % (k, shlex.quote(str(v))) for k, v in sorted(component["environment"].items()))
    for step in component["steps"]:
        cmd = step["cmd"].replace("@JOBS@", "$(nproc)")
        lines.append("(cd \"%s\" && env %s sh -c %s)" % (where, env, shlex.quote(cmd)))
    for path in component["remove"]:
        lines.append("rm -rf %s" % shlex.quote(path))
    if component["strip"]:
        lines.append("strip_new %s" % " ".join(shlex.quote(p) for p in component["strip"]))
    # what changed below the prefixes after the marker: /artifact for the image, /artifact-private
    private = component.get("private") or []
    prefixes = " ".join(shlex.quote(p) for p in component["prefixes"])
    copy = "-print0 2>/dev/null | tar --null --no-recursion -T - -cf - | tar -C %s -xf -"
    lines.append("mkdir -p /artifact /artifact-private")
    lines.append("find %s -cnewer /tmp/peer-marker %s %s" % (
        prefixes, " ".join("! -path %s" % shlex.quote(p) for p in private), copy % "/artifact"))
    if private:
        lines.append("find %s -cnewer /tmp/peer-marker \\( %s \\) %s" % (
            prefixes, " -o ".join("-path %s" % shlex.quote(p) for p in private), copy % "/artifact-private"))
    return " && \\\n    ".join(lines[:1] + ["{ " + "; ".join(lines[1:]) + "; }"])


def dockerfile(plan, base, runtime_packages, build_packages, context, ca_bundle):
    out = ["FROM %s AS runtime_base" % base,
           "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
           + " ".join(runtime_packages) + " >/dev/null",
           "FROM runtime_base AS build_base",
           "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
           + " ".join(build_packages) + " >/dev/null",
           "COPY peer-lib.sh /tmp/peer-lib.sh"]
    with open(os.path.join(context, "peer-lib.sh"), "w") as handle:
        handle.write(PACK)
    os.makedirs(os.path.join(context, "files"), exist_ok=True)
    if ca_bundle:
        shutil.copy(ca_bundle, os.path.join(context, "ca.pem"))
        out.append("COPY ca.pem /tmp/manylinux-build-ca.pem")
        out.append("ENV PIP_CERT=/tmp/manylinux-build-ca.pem")
    by_name = {c["name"]: c for c in plan["components"]}
    for index, component in enumerate(plan["components"]):
        out.append("FROM build_base AS %s" % stage_name(component["name"]))
        for need in component["imports"]:
            out.append("COPY --from=%s /artifact/ /" % stage_name(need))
            if by_name[need].get("private"):
                out.append("COPY --from=%s /artifact-private/ /" % stage_name(need))
        if component["imports"]:
            out.append("RUN ldconfig")
        for source in component["sources"]:
            out.append("COPY sources/%s /tmp/peer-src/%s" % (source["file"], source["file"]))
        for number, item in enumerate(component["files"]):
            path = os.path.join(context, "files", "%d-%d" % (index, number))
            if "content" in item:
                with open(path, "w") as handle:
                    handle.write(item["content"])
            else:
                shutil.copy(item["src"], path)
            out.append("COPY files/%d-%d /tmp/peer-files/%d-%d" % (index, number, index, number))
        out.append("RUN " + run_line(component, context, index))
    out.append("FROM runtime_base AS image")
    for component in plan["components"]:
        out.append("COPY --from=%s /artifact/ /" % stage_name(component["name"]))
    return "\n".join(out) + "\n"


def build(plan_path, base, runtime_base, build_base, source_cache, ca_bundle=None, tag="benchmark/buildkit-peer",
          keep=None):
    with open(plan_path) as handle:
        plan = json.load(handle)
    context = keep or tempfile.mkdtemp(prefix="manylinux-peer-")
    os.makedirs(os.path.join(context, "sources"), exist_ok=True)
    for component in plan["components"]:
        for source in component["sources"]:
            target = os.path.join(context, "sources", source["file"])
            if not os.path.exists(target):
                try:
                    os.link(os.path.join(source_cache, source["file"]), target)
                except OSError:
                    shutil.copy(os.path.join(source_cache, source["file"]), target)
    runtime = packages(runtime_base, base)
    build_only = packages(build_base, runtime_base)
    with open(os.path.join(context, "Dockerfile"), "w") as handle:
        handle.write(dockerfile(plan, base, runtime, build_only, context, ca_bundle))
    env = dict(os.environ, DOCKER_BUILDKIT="1")
    start = time.monotonic()
    proc = subprocess.run([DOCKER, "build", "--no-cache", "--progress=plain", "-t", tag, context], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.monotonic() - start
    with open(os.path.join(context, "build.log"), "w") as handle:
        handle.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:])
        raise SystemExit("the BuildKit peer failed; context and log: %s" % context)
    return seconds, context


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plan")
    parser.add_argument("--base", required=True)
    parser.add_argument("--runtime-base", required=True)
    parser.add_argument("--build-base", required=True)
    parser.add_argument("--source-cache", required=True)
    parser.add_argument("--ca-bundle")
    parser.add_argument("--tag", default="benchmark/buildkit-peer")
    parser.add_argument("--keep")
    args = parser.parse_args()
    seconds, context = build(args.plan, args.base, args.runtime_base, args.build_base, args.source_cache,
                             args.ca_bundle, args.tag, args.keep)
    print("BuildKit peer: %.1f s (context and log: %s)" % (seconds, context))


if __name__ == "__main__":
    main()
