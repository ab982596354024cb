"""manylinux-interpreters: the CPython interpreters of this image.

    manylinux-interpreters list [--installed] [--format text|json] [-v]
    manylinux-interpreters ensure IDENTIFIER...
    manylinux-interpreters ensure-all

The interpreters are built with the image (role interpreters), so `ensure`
and `ensure-all` install nothing: they succeed when the interpreters named
(or all of them) are installed and fail naming those that are not. The list
is read from MANYLINUX_INTERPRETERS_DATA (default: the file the role wrote).
"""

import argparse
import json
import os
import sys

DEFAULT_DATA = globals().get("DATA_DEFAULT", "/opt/_internal/manylinux-interpreters.json")
REPORT_KEYS = ("identifier", "implementation", "version", "variant", "install_path")


def load(path):
    with open(path) as handle:
        return json.load(handle)


def is_installed(record):
    return os.access(os.path.join(record["install_path"], "bin", "python"), os.X_OK)


def report(records):
    out = []
    for record in records:
        item = {key: record[key] for key in REPORT_KEYS}
        item["installed"] = is_installed(record)
        out.append(item)
    return out


def cmd_list(records, args):
    items = report(records)
    if args.installed:
        items = [item for item in items if item["installed"]]
    if args.format == "json":
        json.dump(items, sys.stdout, indent=2 if args.verbose else None)
        sys.stdout.write("\n")
        return 0
    for item in items:
        if args.verbose:
            print("%s: %s %s installed: %s" % (item["identifier"], item["implementation"], item["version"],
                                               "yes" if item["installed"] else "no"))
        else:
            print(item["identifier"])
    return 0


def cmd_ensure(records, identifiers):
    known = {record["identifier"]: record for record in records}
    unknown = [name for name in identifiers if name not in known]
    if unknown:
        sys.stderr.write("manylinux-interpreters: unknown interpreter(s) %s; known: %s\n"
                         % (", ".join(unknown), ", ".join(sorted(known))))
        return 2
    missing = [name for name in identifiers if not is_installed(known[name])]
    if missing:
        sys.stderr.write("manylinux-interpreters: %s not installed; this image builds its interpreters "
                         "at image build time and cannot install them now\n" % ", ".join(missing))
        return 1
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="manylinux-interpreters",
                                     description="The CPython interpreters of this image.")
    parser.add_argument("--data", default=os.environ.get("MANYLINUX_INTERPRETERS_DATA", DEFAULT_DATA),
                        help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    listing = commands.add_parser("list", help="list the interpreters")
    listing.add_argument("-i", "--installed", action="store_true", help="only those installed")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.add_argument("-v", "--verbose", action="store_true")
    ensure = commands.add_parser("ensure", help="check that these interpreters are installed")
    ensure.add_argument("identifiers", nargs="+", metavar="IDENTIFIER", help="e.g. cp313-cp313")
    commands.add_parser("ensure-all", help="check that every interpreter is installed")
    args = parser.parse_args(argv)
    try:
        records = load(args.data)
    except (OSError, ValueError) as exc:
        sys.stderr.write("manylinux-interpreters: cannot read %s: %s\n" % (args.data, exc))
        return 2
    if args.command == "list":
        return cmd_list(records, args)
    if args.command == "ensure":
        return cmd_ensure(records, args.identifiers)
    return cmd_ensure(records, [record["identifier"] for record in records])


if __name__ == "__main__":
    sys.exit(main())
