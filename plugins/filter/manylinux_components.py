"""Filters: pieces of the content roles' component entries: what a library exports, the links a step makes."""

import os
import shlex

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_filters import AnsibleFilterError


def manylinux_library_environment(prefix):
    """What a library in its own prefix exports to the components that link it: its headers,
    its libraries with a run-time path (no LD_LIBRARY_PATH needed) and its pkg-config files."""
    prefix = str(prefix).rstrip("/")
    if not prefix.startswith("/"):
        raise AnsibleFilterError("manylinux_library_environment: %r is not an absolute prefix" % prefix)
    return {
        "CPPFLAGS": "-I%s/include" % prefix,
        "LDFLAGS": "-L%s/lib -Wl,--enable-new-dtags,-rpath,%s/lib" % (prefix, prefix),
        "PKG_CONFIG_PATH": "%s/lib/pkgconfig" % prefix,
    }


def manylinux_link_command(links):
    """One shell command that makes each symlink {src, dest} (its directory first), every path quoted;
    a rerun replaces the links (ln -sfn)."""
    commands = []
    for link in links or []:
        src, dest = str(link.get("src", "")), str(link.get("dest", ""))
        if not src.startswith("/") or not dest.startswith("/"):
            raise AnsibleFilterError("manylinux_link_command: %r needs an absolute src and dest" % (link,))
        commands.append("mkdir -p %s && ln -sfn %s %s" % (shlex.quote(os.path.dirname(dest)), shlex.quote(src),
                                                          shlex.quote(dest)))
    if not commands:
        raise AnsibleFilterError("manylinux_link_command: no links")
    return " && ".join(commands)


class FilterModule(object):
    def filters(self):
        return {
            "manylinux_library_environment": manylinux_library_environment,
            "manylinux_link_command": manylinux_link_command,
        }
