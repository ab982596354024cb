"""Filters: how to bootstrap an offline base image (playbooks/base.yml) from the host's apt sources."""

import re

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_filters import AnsibleFilterError


def _apt_sources(texts):
    """(uri, suite) of every `deb` source in apt source files, one-line or deb822 format, in order."""
    candidates = []
    for text in texts or []:
        stanza_uris, stanza_suites = [], []
        for raw in str(text).splitlines() + [""]:
            line = raw.split("#", 1)[0].strip()
            if not line:
                candidates.extend((u, s) for u in stanza_uris for s in (stanza_suites or [""]))
                stanza_uris, stanza_suites = [], []
                continue
            if line.startswith("deb ") or line.startswith("deb\t"):
                # an option group "[arch=amd64 signed-by=...]" may span words
                line = re.sub(r"\[[^]]*\]", " ", line)
                words = line.split()[1:]
                if len(words) >= 2:
                    candidates.append((words[0], words[1]))
            elif line.lower().startswith("uris:"):
                stanza_uris = line.split(":", 1)[1].split()
            elif line.lower().startswith("suites:"):
                stanza_suites = line.split(":", 1)[1].split()
            elif line.lower().startswith("types:") and "deb" not in line.split(":", 1)[1].split():
                stanza_uris = []
    return candidates


def manylinux_offline_base(texts, distributions, release, debian_arch, mirror="", distribution=""):
    """Choose how to bootstrap an offline base: {distribution, mirror, suite, keyring, components}.

    `texts` are the host's apt source files (one-line or deb822); the first main archive among them (not a
    security or updates suite) names the distribution by the last part of its path (`debian`, `ubuntu`,
    `ubuntu-ports`) and is the mirror. `mirror` and `distribution` override what the host says.
    `distributions` is the table (build_offline_bases): per distribution its `keyring`, `components`,
    `suites` ({release: suite}) and optionally `ports` ({mirror, arches}), the archive of the
    architectures its main mirror lacks.
    """
    names = sorted(distributions or {})
    found = []
    for uri, suite in _apt_sources(texts) if not mirror else [(mirror, "")]:
        if "security" in uri or re.search(r"-(security|updates|backports|proposed)$", suite):
            continue
        last = uri.rstrip("/").rsplit("/", 1)[-1]
        kind = "ubuntu" if last == "ubuntu-ports" else last
        found.append((kind, uri.rstrip("/")))
    chosen = [(kind, uri) for kind, uri in found if kind == distribution or (not distribution and kind in names)]
    if distribution and distribution not in names:
        raise AnsibleFilterError("base_distribution=%s is not in build_offline_bases; choose one of: %s"
                                 % (distribution, ", ".join(names)))
    if not chosen:
        raise AnsibleFilterError("no %s archive mirror found in the apt sources (seen: %s); set base_mirror"
                                 % ("/".join(names) if not distribution else distribution,
                                    ", ".join(uri for _, uri in found) or "none"))
    kind, uri = chosen[0]
    table = distributions[kind]
    suites = table.get("suites") or {}
    if release not in suites:
        raise AnsibleFilterError("base_release=%s has no %s suite in build_offline_bases; choose one of: %s"
                                 % (release, kind, ", ".join(sorted(suites))))
    ports = table.get("ports") or {}
    if debian_arch in (ports.get("arches") or []) and not mirror:
        uri = ports["mirror"].rstrip("/")
    return {"distribution": kind, "mirror": uri, "suite": suites[release], "keyring": table["keyring"],
            "components": list(table.get("components") or ["main"])}


class FilterModule(object):
    def filters(self):
        return {
            "manylinux_offline_base": manylinux_offline_base,
        }
