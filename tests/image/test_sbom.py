"""The image's SBOM (/opt/_internal/sbom.cdx.json): valid CycloneDX, and it lists what the image holds."""

import json

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from conftest import image_manifest, image_manifests

SBOM = "/opt/_internal/sbom.cdx.json"
PROPERTY = "io.github.manylinux-shared"
# The package database of each package manager, as `name<TAB>version` lines.
PACKAGE_QUERIES = [
    ("dpkg-query", "dpkg-query -W -f '${Package}\\t${Version}\\n'"),
    ("rpm", "rpm -qa --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\n'"),
    ("apk", "apk list -I | sed -E 's/^(.+)-([^-]+-r[0-9]+) .*/\\1\\t\\2/'"),
]


@pytest.fixture(scope="module")
def sbom_text(run_in_image):
    return run_in_image.run("cat %s" % SBOM).stdout


@pytest.fixture(scope="module")
def sbom(sbom_text):
    return json.loads(sbom_text)


def components(sbom, prefix):
    return [c for c in sbom["components"] if c["bom-ref"].startswith(prefix)]


def test_the_sbom_is_valid_cyclonedx(sbom_text, sbom, image):
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom_text) is None
    assert sbom["metadata"]["component"]["name"] == image.rsplit(":", 1)[0]


def test_each_component_built_from_source_has_its_version_prefix_and_pinned_sources(sbom):
    listed = {c["name"]: c for c in components(sbom, "source:")}
    manifests = image_manifests()
    assert manifests and sorted(listed) == sorted(m["name"] for m in manifests)
    for manifest in manifests:
        component = listed[manifest["name"]]
        assert component["version"] == str(manifest["version"])
        assert {"name": PROPERTY + ":prefix", "value": manifest["prefix"]} in component["properties"]
        references = {(r["url"], r["hashes"][0]["content"]) for r in component.get("externalReferences", [])}
        assert references == {(s["url"], s["sha256"]) for s in manifest["sources"]}


def test_the_os_packages_are_those_of_the_package_database(sbom, run_in_image):
    query = [q for tool, q in PACKAGE_QUERIES
             if run_in_image.run("command -v %s" % tool, check=False).returncode == 0][0]
    database = set(tuple(line.split("\t")) for line in run_in_image.run(query).stdout.splitlines() if line)
    listed = set((c["name"], c["version"]) for c in components(sbom, "os:"))
    assert listed == database and len(listed) > 50


def test_the_python_packages_are_every_installed_distribution_with_the_hash_of_its_wheel(sbom, run_in_image):
    installed = set(run_in_image.run("find /opt /usr/local -name '*.dist-info' -type d -o -name '*.egg-info' -type d"
                                     ).stdout.split())
    packages = components(sbom, "python:")
    assert set(c["bom-ref"].split(":", 1)[1] for c in packages) == installed
    hashed = [c for c in packages if c.get("hashes")]
    # the tools and the packages pip installs come from the pinned wheels; only what an interpreter
    # bundles may lack a hash, and it says why
    assert {"pip"} | ({"auditwheel"} if image_manifest("python-tools") else set()) <= set(c["name"] for c in hashed)
    for component in packages:
        names = [p["name"] for p in component["properties"]]
        assert component.get("hashes") or PROPERTY + ":hash" in names, component
        assert component["purl"].startswith("pkg:pypi/")
