"""The SBOM: what the image's inventory finds and how the CycloneDX document records it."""

import hashlib
import json

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

import manylinux_python_inventory as inventory
import manylinux_sbom as sbom


def dist_info(root, name, version, tags=("py3-none-any",), metadata="METADATA"):
    path = root / ("%s-%s.dist-info" % (name.replace("-", "_"), version))
    path.mkdir(parents=True)
    (path / metadata).write_text("Metadata-Version: 2.1\nName: %s\nVersion: %s\n\nName: not-a-header\n"
                                 % (name, version))
    if tags:
        (path / "WHEEL").write_text("Wheel-Version: 1.0\n" + "".join("Tag: %s\n" % t for t in tags))
    return str(path)


def test_the_inventory_finds_each_installation_once_without_following_links(tmp_path):
    site = tmp_path / "opt" / "_internal" / "cpython-3.13" / "lib" / "python3.13" / "site-packages"
    pip = dist_info(site, "pip", "26.3")
    (tmp_path / "opt" / "python").mkdir()
    (tmp_path / "opt" / "python" / "cp313-cp313").symlink_to(tmp_path / "opt" / "_internal" / "cpython-3.13")
    egg = tmp_path / "usr" / "local" / "lib" / "old.egg-info"
    egg.mkdir(parents=True)
    (egg / "PKG-INFO").write_text("Name: old\nVersion: 0.1\n")
    found = inventory.inventory([str(tmp_path / "opt"), str(tmp_path / "usr")])
    assert [(p["name"], p["version"], p["tags"], p["path"]) for p in found] == [
        ("pip", "26.3", ["py3-none-any"], pip), ("old", "0.1", [], str(egg))]


@pytest.fixture
def image(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "auditwheel-6.8.2-py3-none-any.whl").write_bytes(b"auditwheel wheel")
    (wheels / "charset_normalizer-3.5.2-cp313-cp313-manylinux2014_x86_64.manylinux_2_17_x86_64.whl").write_bytes(b"cn")
    (wheels / "charset_normalizer-3.5.2-cp39-cp39-manylinux2014_x86_64.manylinux_2_17_x86_64.whl").write_bytes(b"39")
    site = tmp_path / "site"
    packages = [
        {"name": "auditwheel", "version": "6.8.2", "tags": ["py3-none-any"], "path": dist_info(site / "a", "auditwheel",
                                                                                               "6.8.2")},
        {"name": "charset-normalizer", "version": "3.5.2",
         "tags": ["cp313-cp313-manylinux2014_x86_64", "cp313-cp313-manylinux_2_17_x86_64"], "path": "/x/cn"},
        {"name": "pip", "version": "26.3", "tags": ["py3-none-any"], "path": "/opt/_internal/cpython-3.9/pip"}]
    manifests = [{"name": "openssl", "version": "3.5.7", "prefix": "/opt/_internal/openssl-3.5",
                  "sources": [{"key": "openssl-3.5.7", "name": "openssl", "version": "3.5.7",
                               "file": "openssl-3.5.7.tar.gz", "url": "https://example.org/openssl-3.5.7.tar.gz",
                               "sha256": "a" * 64}]},
                 {"name": "python-tools", "version": "6.8.2", "prefix": "/opt/_internal/tools", "sources": []}]
    return {"dest": str(tmp_path / "out" / "sbom.cdx.json"), "wheels": str(wheels), "packages": packages,
            "manifests": manifests}


def test_the_sbom_validates_and_records_sources_wheels_and_os_packages(image):
    bom, counts, unhashed = sbom.build({"name": "ghcr.io/o/manylinux_2_31_x86_64-shared", "version": "latest",
                                        "properties": {"policy": "manylinux_2_31"}},
                                       image["manifests"], image["packages"],
                                       "libc6\t2.31-13+deb11u11\tamd64\nbash\t5.1-2+deb11u1\tamd64\n", "deb/debian",
                                       image["wheels"])
    sbom.write(bom, image["dest"])
    with open(image["dest"]) as handle:
        text = handle.read()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    assert document["metadata"]["component"]["name"] == "ghcr.io/o/manylinux_2_31_x86_64-shared"
    by_ref = {c["bom-ref"]: c for c in document["components"]}
    openssl = by_ref["source:openssl"]
    assert openssl["version"] == "3.5.7" and openssl["hashes"] == [{"alg": "SHA-256", "content": "a" * 64}]
    assert openssl["externalReferences"][0]["url"] == "https://example.org/openssl-3.5.7.tar.gz"
    assert {"name": "io.github.manylinux-shared:prefix", "value": "/opt/_internal/openssl-3.5"} in openssl[
        "properties"]
    # the cp313 wheel, not the cp39 one of the same version
    cn = [c for c in document["components"] if c["name"] == "charset-normalizer"][0]
    assert cn["hashes"][0]["content"] == hashlib.sha256(b"cn").hexdigest()
    assert cn["purl"] == "pkg:pypi/charset-normalizer@3.5.2"
    assert unhashed == ["pip==26.3"]
    assert by_ref["os:libc6:amd64"]["purl"] == "pkg:deb/debian/libc6@2.31-13%2Bdeb11u11?arch=amd64"
    assert counts == {"source": 2, "python": 3, "os": 2}


def test_an_sbom_that_does_not_validate_leaves_the_old_file(image, tmp_path):
    dest = tmp_path / "sbom.cdx.json"
    dest.write_text("old")
    # the schema admits only hexadecimal hash contents
    manifest = {"name": "bad", "version": "1", "sources": [{"url": "https://example.org/bad.tar.gz", "sha256": "xyz"}]}
    bom, _, _ = sbom.build({"name": "img"}, [manifest], [], "", "", "")
    with pytest.raises(ValueError, match="CycloneDX 1.6"):
        sbom.write(bom, str(dest))
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".partial")] == []
