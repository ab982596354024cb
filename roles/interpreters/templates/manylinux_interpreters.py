"""manylinux-interpreters: the interpreters of this image, and those it can install.

    manylinux-interpreters list [-i|--installed] [--format text|json] [-v]
    manylinux-interpreters ensure TAG...
    manylinux-interpreters ensure-all

As upstream's (pypa/manylinux): `list` names the interpreters built with the
image and those `ensure` can download for this architecture (PyPy, GraalPy:
a pinned URL and sha256 each), installed or not, and any other interpreter
linked in the link directory; `--format json` gives identifier, installed,
python_version, implementation, implementation_version and install_path of
each. `ensure` installs the downloadable ones that are missing: download,
check the sha256, unpack into <prefix_root>/<tag>, pip from the image's pins
(--require-hashes), record it in the image's manifests (the schema of the
components built with the image, so the image's labels and SBOM name its
download and sha256), write the <implementation>X.Y wrapper and, last, link
<link_dir>/<tag> (what makes it installed). A failed install leaves nothing behind.
An interpreter built with the image cannot be installed again by this command.

The data (built interpreters, downloadable ones, directories) is read from
MANYLINUX_INTERPRETERS_DATA, by default the file the role wrote.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

DEFAULT_DATA = globals().get("DATA_DEFAULT", "/opt/_internal/manylinux-interpreters.json")
INFO = r"""
import json, sys
pre = {"alpha": "a", "beta": "b", "candidate": "rc"}
def version(v):
    return ".".join(str(p) for p in v[:3]) + (pre[v[3]] + str(v[4]) if v[3] in pre else "")
print(json.dumps([version(sys.version_info), sys.implementation.name, version(sys.implementation.version)]))
"""
CHUNK = 1 << 20


class Failure(Exception):
    """An error for the user: printed, exit status 1."""


def load(path):
    with open(path) as handle:
        data = json.load(handle)
    for key in ("interpreters", "downloadable", "link_dir", "prefix_root", "wrapper_dir", "manifest_dir"):
        if key not in data:
            raise ValueError("no %r" % key)
    return data


def sort_key(tag):
    """cp before graalpy before pp (as upstream), then by Python version, then by name."""
    match = re.match(r"([a-z]+?)(\d)(\d+)-", tag)
    return (match.group(1), int(match.group(2)), int(match.group(3)), tag) if match else ("~", 0, 0, tag)


def install_path(data, tag):
    return os.path.join(data["link_dir"], tag)


def is_installed(data, tag):
    return os.access(os.path.join(install_path(data, tag), "bin", "python"), os.X_OK)


def all_tags(data):
    tags = {record["identifier"] for record in data["interpreters"]} | set(data["downloadable"])
    if os.path.isdir(data["link_dir"]):
        tags |= {name for name in os.listdir(data["link_dir"]) if os.path.isdir(install_path(data, name))}
    return sorted(tags, key=sort_key)


def info_from_path(data, tag):
    python = os.path.join(install_path(data, tag), "bin", "python")
    out = subprocess.run([python, "-c", INFO], check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout
    return json.loads(out)


def info_from_data(data, tag):
    built = {record["identifier"]: record for record in data["interpreters"]}
    if tag in built:
        record = built[tag]
        return [record["version"], record["implementation"], record["version"]]
    entry = data["downloadable"][tag]
    return [entry["python_version"], entry["implementation"], entry["implementation_version"]]


def report(data, tag):
    installed = is_installed(data, tag)
    python_version, implementation, implementation_version = (
        info_from_path(data, tag) if installed else info_from_data(data, tag))
    return {"identifier": tag, "installed": installed, "python_version": python_version,
            "implementation": implementation, "implementation_version": implementation_version,
            "install_path": install_path(data, tag)}


def cmd_list(data, args):
    items = [report(data, tag) for tag in all_tags(data)]
    if args.installed:
        items = [item for item in items if item["installed"]]
    if args.format == "json":
        json.dump(items, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for item in items:
        print(item["identifier"] + (":" if args.verbose else ""))
        if args.verbose:
            print("  installed:              %s" % ("yes" if item["installed"] else "no"))
            print("  python version:         %s" % item["python_version"])
            print("  implementation:         %s" % item["implementation"])
            print("  implementation version: %s" % item["implementation_version"])
            print("  install_path:           %s" % item["install_path"])
    return 0


def download(url, sha256, dest):
    """Download url to dest, checking its sha256 on the way; dest is removed when it differs."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        raise Failure("cannot download %s: %s" % (url, exc))
    if digest.hexdigest() != sha256:
        os.unlink(dest)
        raise Failure("%s: sha256 %s, expected %s" % (url, digest.hexdigest(), sha256))


def unpack(archive, dest):
    """Unpack the archive's single top directory into dest (tar --strip-components 1)."""
    with tarfile.open(archive) as tar:
        members = []
        for member in tar.getmembers():
            parts = member.name.split("/", 1)
            if len(parts) < 2 or not parts[1]:
                continue
            member.name = parts[1]
            if member.islnk():
                member.linkname = member.linkname.split("/", 1)[-1]
            members.append(member)
        if not members:
            raise Failure("%s holds no top directory to unpack" % archive)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="tar")
        else:
            tar.extractall(dest, members=members)


def finish(prefix, entry):
    """What upstream's finalize-one.sh does to a downloaded interpreter, up to its links."""
    bindir = os.path.join(prefix, "bin")
    for name in os.listdir(bindir):
        if name.endswith(".debug"):
            os.unlink(os.path.join(bindir, name))
    python = os.path.join(bindir, "python")
    if not os.path.lexists(python) and os.path.lexists(python + "3"):
        os.symlink("python3", python)
    env = dict(os.environ, PIP_ROOT_USER_ACTION="ignore", PIP_DISABLE_PIP_VERSION_CHECK="1")
    if entry.get("requirements"):
        subprocess.run([python, "-m", "ensurepip", "--default-pip"], check=True, env=env, stdout=sys.stderr)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "--require-hashes",
                        "-r", entry["requirements"]], check=True, env=env, stdout=sys.stderr)
    if os.path.lexists(os.path.join(bindir, "pip3")) and not os.path.lexists(os.path.join(bindir, "pip")):
        os.symlink("pip3", os.path.join(bindir, "pip"))


def manifest(tag, entry, prefix, link, wrapper):
    """The manifest of a downloaded interpreter, in the schema of the components built with the image."""
    version = entry["implementation_version"]
    return {"name": tag, "version": version, "key": entry["sha256"], "prefix": prefix,
            "prefixes": [prefix, link, wrapper], "needs": [],
            "sources": [{"key": tag, "name": entry["implementation"], "version": version,
                         "file": entry["url"].rsplit("/", 1)[-1], "url": entry["url"], "sha256": entry["sha256"]}],
            "details": {"python": os.path.join(prefix, "bin", "python"), "python_version": entry["python_version"],
                        "installed_by": "manylinux-interpreters ensure"}}


def write_file(path, content, mode):
    """Write path whole: a partial file is renamed into place."""
    with open(path + ".partial", "w") as handle:
        handle.write(content)
    os.chmod(path + ".partial", mode)
    os.rename(path + ".partial", path)


def install(data, tag):
    entry = data["downloadable"][tag]
    prefix = os.path.join(data["prefix_root"], tag)
    link = install_path(data, tag)
    wrapper = os.path.join(data["wrapper_dir"], "%s%s" % (entry["implementation"], entry["python_version"]))
    record = os.path.join(data["manifest_dir"], tag + ".json")
    if os.path.lexists(prefix):
        raise Failure("%s exists but %s is not installed: remove it first" % (prefix, tag))
    print("installing '%s' at '%s'" % (tag, link))
    scratch = tempfile.mkdtemp(prefix=".%s." % tag, dir=data["prefix_root"])
    written = []
    try:
        archive = os.path.join(scratch, "archive")
        download(entry["url"], entry["sha256"], archive)
        tree = os.path.join(scratch, "tree")
        os.mkdir(tree)
        unpack(archive, tree)
        os.rename(tree, prefix)
        finish(prefix, entry)
        os.makedirs(data["link_dir"], exist_ok=True)
        os.makedirs(data["manifest_dir"], exist_ok=True)
        for path, content, mode in (
                (record, json.dumps(manifest(tag, entry, prefix, link, wrapper), sort_keys=True) + "\n", 0o644),
                (wrapper, '#!/bin/sh\nexec "%s/bin/python" "$@"\n' % link, 0o755)):
            written += [path + ".partial", path]
            write_file(path, content, mode)
        # last: the link is what makes it installed (nothing can fail after it)
        os.symlink(prefix, link)
    except BaseException as exc:
        for path in written:
            if os.path.lexists(path):
                os.unlink(path)
        shutil.rmtree(prefix, ignore_errors=True)
        if isinstance(exc, (subprocess.CalledProcessError, OSError)):
            raise Failure("installing %s failed: %s" % (tag, exc))
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def cmd_ensure(data, tags):
    known = all_tags(data)
    unknown = [tag for tag in tags if tag not in known]
    if unknown:
        sys.stderr.write("manylinux-interpreters: unknown interpreter(s) %s; choose from: %s\n"
                         % (", ".join(unknown), ", ".join(known)))
        return 2
    for tag in tags:
        if is_installed(data, tag):
            print("'%s' already installed at '%s'" % (tag, install_path(data, tag)))
        elif tag not in data["downloadable"]:
            raise Failure("%s is not installed and cannot be: it is built with the image" % tag)
        else:
            install(data, tag)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="manylinux-interpreters",
                                     description="The interpreters of this image, and those it can install.")
    parser.add_argument("--data", default=os.environ.get("MANYLINUX_INTERPRETERS_DATA", DEFAULT_DATA),
                        help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    listing = commands.add_parser("list", help="list available or installed interpreters")
    listing.add_argument("-i", "--installed", action="store_true", help="only list installed interpreters")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.add_argument("-v", "--verbose", action="store_true", help="more about each (text only)")
    ensure = commands.add_parser("ensure", help="make sure these interpreters are installed")
    ensure.add_argument("tags", nargs="+", metavar="TAG", help="<python tag>-<abi tag>, e.g. pp311-pypy311_pp73")
    commands.add_parser("ensure-all", help="make sure all interpreters are installed")
    args = parser.parse_args(argv)
    try:
        data = load(args.data)
    except (OSError, ValueError) as exc:
        sys.stderr.write("manylinux-interpreters: cannot read %s: %s\n" % (args.data, exc))
        return 2
    try:
        if args.command == "list":
            return cmd_list(data, args)
        if args.command == "ensure":
            return cmd_ensure(data, args.tags)
        return cmd_ensure(data, all_tags(data))
    except Failure as exc:
        sys.stderr.write("manylinux-interpreters: %s\n" % exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
