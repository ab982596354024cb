"""Pins of Python packages on a package index: the one lookup of the sha256 of their files.

Used by scripts/pin-requirements (every pin of a requirement file, anew) and by the module
manylinux_source_update (the newest release of a pin, and its hashes). The index is PyPI's
simple API in its JSON form (PEP 691, with PEP 700's `versions`), as pip reads it; its base
URL is a parameter, so that tests serve a fake one on 127.0.0.1.

A requirement file is a list of blocks `NAME==VERSION \\` followed by `--hash=sha256:...`
lines; every other line (comments such as `# via ...`) is kept as it is.
"""

from __future__ import annotations

import json
import re
import urllib.request

PYPI_SIMPLE = "https://pypi.org/simple"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)\s*\\?\s*$")
ACCEPT = "application/vnd.pypi.simple.v1+json"


class PinError(Exception):
    pass


def _packaging():
    # packaging is one of the controller's pins (requirements.txt): run with the project's .venv
    try:
        from packaging import utils, version
    except ImportError as exc:  # pragma: no cover - the controller venv has it
        raise PinError("the Python package 'packaging' is needed (run with the project's .venv/bin/python): %s" % exc)
    return utils, version


def canonical(name):
    return _packaging()[0].canonicalize_name(name)


def index_files(name, index=PYPI_SIMPLE, timeout=60, opener=None):
    """The index's JSON page of project NAME: {"files": [...], "versions": [...] (PEP 700, may lack)}."""
    url = "%s/%s/" % (index.rstrip("/"), canonical(name))
    request = urllib.request.Request(url, headers={"Accept": ACCEPT})
    try:
        with (opener or urllib.request.urlopen)(request, timeout=timeout) as response:
            return json.load(response)
    except Exception as exc:  # noqa: BLE001 - one clear message per lookup
        raise PinError("cannot read the index page of %s (%s): %s" % (name, url, exc))


def file_version(filename):
    """The version of a wheel or sdist file name, or None when the name is neither."""
    utils, _ = _packaging()
    try:
        if filename.endswith(".whl"):
            return utils.parse_wheel_filename(filename)[1]
        return utils.parse_sdist_filename(filename)[1]
    except (utils.InvalidWheelFilename, utils.InvalidSdistFilename):
        return None


def file_kind(filename):
    return "wheel" if filename.endswith(".whl") else "sdist"


def hashes(name, version, index=PYPI_SIMPLE, page=None, timeout=60, opener=None, kinds=("wheel", "sdist")):
    """sha256 of every file of NAME==VERSION (its wheels and its sdist, not yanked), sorted.

    `page` is the project's index page when the caller has read it already; `kinds` limits
    the files to wheels or sdists."""
    _, versions = _packaging()
    page = page if page is not None else index_files(name, index, timeout, opener)
    wanted, found = versions.Version(str(version)), set()
    for entry in page.get("files", []):
        if (file_version(entry["filename"]) == wanted and not entry.get("yanked")
                and file_kind(entry["filename"]) in kinds):
            found.add(entry["hashes"]["sha256"])
    if not found:
        raise PinError("%s==%s has no files on %s" % (name, version, index))
    return sorted(found)


def kinds_of(page, digests):
    """Which kinds of file (wheel, sdist) the sha256 `digests` are on an index page."""
    digests = set(digests)
    return tuple(sorted({file_kind(e["filename"]) for e in page.get("files", [])
                         if e.get("hashes", {}).get("sha256") in digests}))


def pin_digests(lines):
    """The sha256 values of a pin block's --hash lines."""
    return re.findall(r"--hash=sha256:([0-9a-f]{64})", "\n".join(lines))


def releases(page):
    """The final releases of an index page that have a file that is not yanked, oldest first."""
    _, versions = _packaging()
    found = set()
    for entry in page.get("files", []):
        if entry.get("yanked"):
            continue
        found_version = file_version(entry["filename"])
        if found_version is not None and not (found_version.is_prerelease or found_version.is_devrelease):
            found.add(found_version)
    return sorted(found)


def newest_in_series(current, candidates, keep="minor"):
    """The newest of `candidates` (Versions) in the series of `current`, or None.

    keep: "minor" keeps major.minor (3.13.14 may become 3.13.15, not 3.14.0), "major" keeps
    the major version only."""
    _, versions = _packaging()
    current = versions.Version(str(current))
    width = {"minor": 2, "major": 1}[keep]

    def series(v):
        return (tuple(v.release) + (0, 0))[:width]

    newer = [v for v in candidates if series(v) == series(current) and v > current]
    return max(newer) if newer else None


def render_pin(name, version, digests):
    """The lines of one pin block: NAME==VERSION and its hashes, continued with backslashes."""
    lines = ["%s==%s \\" % (name, version)]
    lines.extend("    --hash=sha256:%s%s" % (d, " \\" if i < len(digests) - 1 else "") for i, d in enumerate(digests))
    return lines


def parse_requirements(text, path="requirements"):
    """Split a requirement file into items: ("pin", name, version, lines) and ("line", text).

    A pin's lines are its NAME==VERSION line and its --hash lines; anything that is neither
    a pin, a hash, a comment nor blank is an error naming the file."""
    items = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("--hash=") and items and items[-1][0] == "pin":
            items[-1][3].append(line)
            continue
        match = PIN.match(stripped)
        if match:
            items.append(("pin", match.group(1), match.group(2), [line]))
        elif stripped and not stripped.startswith("#"):
            raise PinError("%s: %r is not NAME==VERSION (with --hash lines), a comment or blank" % (path, stripped))
        else:
            items.append(("line", line))
    return items


def render_requirements(items):
    out = []
    for item in items:
        out.extend(item[3] if item[0] == "pin" else [item[1]])
    return "\n".join(out) + "\n"
