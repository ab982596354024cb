"""Image references as Docker reads them: C([registry/]repository[:tag][@sha256:<hex>]).

One grammar for the filters (the name of a build's image, the base to pull, the base's digest) and
the modules that ask a registry (the pin updater of the base images). The first path component is
a registry when it has a C(.) or a C(:) or is C(localhost); otherwise the image is Docker Hub's
(C(docker.io), whose API is C(registry-1.docker.io), and whose one-component names are
C(library/<name>)).
"""

from __future__ import annotations

import re
from collections import namedtuple

COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?"
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
DIGEST = r"sha256:[0-9a-f]{64}"
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
GRAMMAR = "[registry/]repository[:tag][@sha256:<64 hex digits>]"


class ReferenceError(ValueError):
    pass


class Reference(namedtuple("Reference", "text name registry repository tag digest")):
    """`name` as written (without tag and digest), `registry` (docker.io when none is written),
    `repository` as that registry's API names it (Docker Hub's with its `library/`)."""

    @property
    def canonical(self):
        return "%s/%s" % (self.registry, self.repository)

    @property
    def api_host(self):
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def pinned(self, digest):
        """name:tag@digest, the name spelt as written."""
        return "%s:%s@%s" % (self.name, self.tag, digest)

    @property
    def pull(self):
        """What to pull: name@digest when pinned (Docker pulls by the digest; community.docker's docker_image
        finds a pulled image by name@digest, never by name:tag@digest), else the reference as written."""
        return "%s@%s" % (self.name, self.digest) if self.digest else self.text


def parse(text):
    """The Reference of `text`; ReferenceError naming the grammar and what breaks it."""
    if not isinstance(text, str) or not text.strip():
        raise ReferenceError("%r is not an image reference %s: it is empty" % (text, GRAMMAR))

    def refuse(why):
        raise ReferenceError("%r is not an image reference %s: %s" % (text, GRAMMAR, why))

    rest, at, digest = text.partition("@")
    if at and not re.fullmatch(DIGEST, digest):
        refuse("the digest %r is not sha256:<64 lowercase hex digits>" % digest)
    name, colon, tag = rest.rpartition(":")
    if not colon or "/" in tag:
        name, tag = rest, ""
    elif not re.fullmatch(TAG, tag):
        refuse("the tag %r is not up to 128 letters, digits, _ . - (not first . or -)" % tag)
    first, slash, path = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry = first
        if not re.fullmatch(HOST, registry):
            refuse("the registry %r is not a host[:port]" % registry)
    else:
        registry, path = DOCKER_HUB, name
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    if not re.fullmatch(r"%s(?:/%s)*" % (COMPONENT, COMPONENT), path):
        refuse("the repository %r is not lowercase components of letters and digits joined by . _ - and /" % path)
    if registry == DOCKER_HUB and "/" not in path:
        path = "library/" + path
    return Reference(text, name, registry, path, tag, digest)
