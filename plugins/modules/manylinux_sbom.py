#!/usr/bin/python
"""Write the CycloneDX SBOM of an image: its components, Python packages and OS packages."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_sbom
short_description: Write an image's CycloneDX SBOM, validated against the CycloneDX schema
description:
  - Runs on the controller, with cyclonedx-python-lib (requirements.txt), and
    writes a CycloneDX 1.6 JSON document to O(dest), replacing it whole only
    once it validates against the schema (nothing half-written).
  - Every component built from source, and every interpreter that
    manylinux-interpreters ensure downloaded (its manifest, see docs/DESIGN.md),
    is a component with its name, version, install prefix and, for each of
    its sources, the download URL with the tarball's sha256.
  - Every Python package installed (module manylinux_python_inventory) is a
    C(pkg:pypi) component with its version, where it is installed, and the
    sha256 of the wheel pip installed, looked up in the controller's wheel
    cache by the name, version and tags the package records (a package whose
    wheel the cache does not hold, such as the pip an interpreter bundles, says
    so in a property instead of a hash).
  - Every OS package of the package database is a C(pkg:deb), C(pkg:rpm) or
    C(pkg:apk) component.
options:
  dest:
    description: The SBOM file to write (on the controller).
    type: path
    required: true
  image:
    description:
      - The image the SBOM describes, with C(name), C(version) (its tag) and
        C(properties) (a dict, e.g. the policy and arch).
    type: dict
    required: true
  manifests:
    description: The component manifests of the image.
    type: list
    elements: dict
    default: []
  python_packages:
    description: The packages manylinux_python_inventory returned.
    type: list
    elements: dict
    default: []
  os_packages:
    description: The package database, one package per line as C(name<TAB>version<TAB>arch).
    type: str
    default: ""
  os_purl:
    description: The package URL type and namespace of the OS packages, e.g. C(deb/debian).
    type: str
    default: ""
  wheel_dir:
    description: The controller's wheel cache, where the installed wheels' hashes are looked up.
    type: path
    default: ""
"""

EXAMPLES = r"""
- name: Write the SBOM beside the build's logs
  manylinux_shared.factory.manylinux_sbom:
    dest: "{{ build_log_dir }}/sbom.cdx.json"
    image: {name: ghcr.io/owner/manylinux_2_31_x86_64-shared, version: latest, properties: {policy: manylinux_2_31}}
    manifests: "{{ build_component_manifests }}"
    python_packages: "{{ build_python_packages.packages }}"
    os_packages: "{{ build_os_packages.stdout }}"
    os_purl: deb/debian
    wheel_dir: "{{ build_wheel_cache }}"
"""

RETURN = r"""
dest:
  description: The SBOM written.
  type: str
  returned: success
components:
  description: How many components of each kind it lists (C(source), C(python), C(os)).
  type: dict
  returned: success
unhashed:
  description: The Python packages whose wheel was not found in the wheel cache (C(name==version)).
  type: list
  elements: str
  returned: success
"""

import glob
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_files import sha256_of

PROPERTY = "io.github.manylinux-shared"


# The standard pattern: the module documents itself and fails clearly without them.
try:
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from packageurl import PackageURL
    from packaging.tags import parse_tag
    from packaging.utils import canonicalize_name, parse_wheel_filename
    LIBRARY_ERROR = None
except ImportError as error:
    LIBRARY_ERROR = error


def _property(name, value):
    return Property(name="%s:%s" % (PROPERTY, name), value=str(value))


def _sha256(value):
    return HashType(alg=HashAlgorithm.SHA_256, content=value)


def wheel_of(package, wheel_dir):
    """The cached wheel file of an installed package (its name, version and tags), or None."""
    if not wheel_dir or not package.get("tags"):
        return None
    wanted = set()
    for tag in package["tags"]:
        wanted |= set(parse_tag(tag))
    name = canonicalize_name(package["name"])
    for path in sorted(glob.glob(os.path.join(glob.escape(wheel_dir), "*.whl"))):
        try:
            wheel_name, wheel_version, _, tags = parse_wheel_filename(os.path.basename(path))
        except ValueError:
            continue
        if wheel_name == name and str(wheel_version) == str(package["version"]) and wanted <= set(tags):
            return path
    return None


def build(image, manifests, python_packages, os_packages, os_purl, wheel_dir):
    """The Bom of an image, and the packages with no hash."""
    bom = Bom()
    bom.metadata.component = Component(
        type=ComponentType.CONTAINER, name=image["name"], version=str(image.get("version", "")),
        bom_ref="image", properties=[_property(k, v) for k, v in sorted((image.get("properties") or {}).items())])
    counts, unhashed = {"source": 0, "python": 0, "os": 0}, []
    for manifest in sorted(manifests, key=lambda m: m["name"]):
        sources = manifest.get("sources") or []
        refs = [ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(s["url"]),
                                         hashes=[_sha256(s["sha256"])], comment=s.get("file"))
                for s in sources if s.get("url")]
        first = sources[0] if sources else {}
        purl = PackageURL(type="generic", name=first.get("name") or manifest["name"],
                                 version=str(first.get("version") or manifest["version"]),
                                 qualifiers={"download_url": first["url"]} if first.get("url") else None)
        bom.components.add(Component(
            type=ComponentType.LIBRARY, name=manifest["name"], version=str(manifest["version"]),
            bom_ref="source:%s" % manifest["name"], purl=purl, external_references=refs,
            hashes=[_sha256(first["sha256"])] if len(sources) == 1 else [],
            properties=[_property("prefix", manifest.get("prefix", ""))]
            + [_property("source", s.get("key") or s.get("file")) for s in sources]))
        counts["source"] += 1
    for package in sorted(python_packages, key=lambda p: p["path"]):
        wheel = wheel_of(package, wheel_dir)
        properties = [_property("path", package["path"])]
        if wheel:
            properties.append(_property("wheel", os.path.basename(wheel)))
        else:
            unhashed.append("%s==%s" % (package["name"], package["version"]))
            properties.append(_property("hash", "not in the wheel cache (bundled with its interpreter or not a wheel)"))
        purl = PackageURL(type="pypi", name=canonicalize_name(package["name"]),
                                 version=package["version"])
        bom.components.add(Component(
            type=ComponentType.LIBRARY, name=package["name"], version=package["version"], purl=purl,
            bom_ref="python:%s" % package["path"], hashes=[_sha256(sha256_of(wheel))] if wheel else [],
            properties=properties))
        counts["python"] += 1
    purl_type, _, namespace = os_purl.partition("/")
    for line in sorted(set(os_packages.splitlines())):
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0]:
            continue
        arch = fields[2] if len(fields) > 2 and fields[2] else None
        purl = PackageURL(type=purl_type or "generic", namespace=namespace or None, name=fields[0],
                                 version=fields[1], qualifiers={"arch": arch} if arch else None)
        bom.components.add(Component(
            type=ComponentType.LIBRARY, name=fields[0], version=fields[1], purl=purl,
            bom_ref="os:%s:%s" % (fields[0], arch or "")))
        counts["os"] += 1
    # the image is made of them all
    bom.register_dependency(bom.metadata.component, list(bom.components))
    return bom, counts, unhashed


def write(bom, dest):
    """Serialize, validate and replace `dest` whole; raise ValueError naming the schema error."""
    text = JsonV1Dot6(bom).output_as_string(indent=1)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise ValueError("the SBOM does not validate against CycloneDX 1.6: %s" % error)
    directory = os.path.dirname(os.path.abspath(dest))
    os.makedirs(directory, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=directory, prefix=".partial-sbom-")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text + "\n")
        os.chmod(scratch, 0o644)
        os.replace(scratch, dest)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)


def main():
    module = AnsibleModule(argument_spec=dict(
        dest=dict(type="path", required=True), image=dict(type="dict", required=True),
        manifests=dict(type="list", elements="dict", default=[]),
        python_packages=dict(type="list", elements="dict", default=[]),
        os_packages=dict(type="str", default=""), os_purl=dict(type="str", default=""),
        wheel_dir=dict(type="path", default="")))
    p = module.params
    if not p["image"].get("name"):
        module.fail_json(msg="image.name is required: the SBOM names the image it describes")
    if LIBRARY_ERROR is not None:
        module.fail_json(msg="the SBOM needs cyclonedx-python-lib on the controller (requirements.txt, "
                             "scripts/setup): %s" % LIBRARY_ERROR)
    try:
        bom, counts, unhashed = build(p["image"], p["manifests"], p["python_packages"], p["os_packages"],
                                      p["os_purl"], p["wheel_dir"])
        write(bom, p["dest"])
    except (KeyError, ValueError) as error:
        module.fail_json(msg="cannot write the SBOM %s: %s" % (p["dest"], error))
    module.exit_json(changed=True, dest=p["dest"], components=counts, unhashed=unhashed)


if __name__ == "__main__":
    main()
