"""The pin updater's upstreams: the release lists of python.org, GitHub releases and sqlite's download page.

Each kind has its base URL in the module's `upstreams` option, so that tests serve a fake one. Every request
fails as UpdateError naming the URL; the signature checks (manylinux_signatures) raise it too.
"""

from __future__ import annotations

import json
import re
import shutil

from ansible.module_utils.urls import open_url

KINDS = ("python.org", "github", "sqlite")
KIND_FIELDS = {"python.org": (), "github": ("repo", "tag", "asset"), "sqlite": ("asset",)}
FINAL = re.compile(r"^\d+\.\d+\.\d+$")
SQLITE_LINE = re.compile(r"^PRODUCT,(\d+\.\d+\.\d+),([^,]+),(\d+),([0-9a-f]{64})\s*$", re.M)


class UpdateError(Exception):
    """Why the pin updater cannot go on: an upstream that cannot be read, a download, a check that refuses."""


def fetch_text(url, timeout, accept=None):
    headers = {"Accept": accept} if accept else {}
    try:
        return open_url(url, timeout=timeout, headers=headers, follow_redirects="all").read().decode("utf-8")
    except Exception as exc:  # noqa: BLE001 - one clear message per request
        raise UpdateError("cannot read %s: %s" % (url, exc))


def fetch_json(url, timeout, accept="application/json"):
    text = fetch_text(url, timeout, accept)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UpdateError("%s is not JSON: %s" % (url, exc))


def upstream_releases(name, comp, upstreams, timeout):
    """{version: {"url": ..., "signature_url": ..., "sha3": ...}} of the final releases upstream."""
    base = upstreams[comp["kind"]].rstrip("/")
    found = {}
    if comp["kind"] == "python.org":
        for release in fetch_json(base + "/api/v2/downloads/release/", timeout):
            match = re.match(r"^Python (\d+\.\d+\.\d+)$", str(release.get("name", "")))
            if match and release.get("is_published", True) and not release.get("pre_release"):
                version = match.group(1)
                url = "%s/ftp/python/%s/Python-%s.tar.xz" % (base, version, version)
                found[version] = {"url": url, "file": "Python-%s.tar.xz" % version,
                                  "asc": url + ".asc", "sigstore": url + ".sigstore"}
    elif comp["kind"] == "github":
        data = fetch_json("%s/repos/%s/releases?per_page=100" % (base, comp["repo"]), timeout,
                          "application/vnd.github+json")
        tag = re.compile("^" + re.escape(comp["tag"]).replace(re.escape("{version}"), r"(\d+\.\d+\.\d+)") + "$")
        for release in data:
            match = tag.match(str(release.get("tag_name", "")))
            if not match or release.get("draft") or release.get("prerelease"):
                continue
            version = match.group(1)
            assets = {a.get("name"): a.get("browser_download_url") for a in release.get("assets", [])}
            wanted = comp["asset"].replace("{version}", version)
            if assets.get(wanted):
                found[version] = {"url": assets[wanted], "file": wanted, "asc": assets.get(wanted + ".asc")}
    elif comp["kind"] == "sqlite":
        page = fetch_text(base + "/download.html", timeout)
        for version, path, _, sha3 in SQLITE_LINE.findall(page):
            if re.search(comp["asset"], path):
                found[version] = {"url": "%s/%s" % (base, path), "file": path.rsplit("/", 1)[-1], "sha3": sha3}
    return {v: r for v, r in found.items() if FINAL.match(v)}


def download(url, dest, timeout):
    try:
        response = open_url(url, timeout=timeout, follow_redirects="all")
        with open(dest, "wb") as out:
            shutil.copyfileobj(response, out)
    except Exception as exc:  # noqa: BLE001
        raise UpdateError("cannot download %s: %s" % (url, exc))
