"""Fixtures for checks against a committed image (run by molecule's testinfra verifier).

The image under test is named by the environment, so the same checks run
against any image the factory made, with whatever configuration it was built:

  MANYLINUX_IMAGE            image reference (required)
  MANYLINUX_POLICY           policy it was built for (required)
  MANYLINUX_ARCH             arch it was built for (required)
  MANYLINUX_CA_BUNDLE        optional PEM file handed to containers for pip
                             (TLS-intercepting proxies); never part of the image
  MANYLINUX_NEWER_IMAGE      optional image of a newer distribution, to show that
                             binaries built in the image run there
  MANYLINUX_BUILD_ID         optional build id the image's label must carry
  MANYLINUX_INTERPRETERS     optional, comma separated (3.13.14,3.14.6t): the
                             /opt/python interpreters the image must have
  MANYLINUX_SHARED_VERSIONS  optional, comma separated: its shared CPythons
  MANYLINUX_OPENSSL_VERSION  optional: the release of its private OpenSSL

Every other expectation is read from the image itself, never from the role
defaults, the group_vars or a vars file it was built with: its component
manifests (/opt/_internal/manifests/*.json: what it holds, each piece's
version, prefixes, needs and details; those `manylinux-interpreters ensure`
wrote name a download), the data of its manylinux-interpreters
(/opt/_internal/manylinux-interpreters.json), its SBOM, its labels and ENV.
A check of a piece the image does not hold (no manifest) skips, naming it.
"""

import json
import os
import re
import subprocess
import uuid

import pytest
import testinfra


def _env(name, required=True):
    value = os.environ.get(name, "")
    if required and not value:
        pytest.fail("%s is not set: name the image under test (see tests/image/conftest.py)" % name)
    return value


def docker(*args, check=True, input=None):
    """Run the docker CLI and return the completed process (text)."""
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, input=input)


MANIFEST_DIR = "/opt/_internal/manifests"
_MANIFESTS = {}


def image_manifests(ref=None):
    """The component manifests of the image under test, read once (also while tests are collected)."""
    ref = ref or os.environ.get("MANYLINUX_IMAGE", "")
    if ref not in _MANIFESTS:
        proc = docker("run", "--rm", "--entrypoint", "/bin/sh", ref, "-c",
                      "for f in %s/*.json; do [ -f \"$f\" ] && cat \"$f\" && printf '\\036'; done; true"
                      % MANIFEST_DIR, check=False) if ref else None
        texts = proc.stdout.split("\x1e") if proc is not None and proc.returncode == 0 else []
        _MANIFESTS[ref] = [json.loads(text) for text in texts if text.strip()]
    return _MANIFESTS[ref]


def image_manifest(name):
    """The manifest of the image's component `name`, or None."""
    return next((manifest for manifest in image_manifests() if manifest["name"] == name), None)


def skip_unless_in_the_image(found, why):
    """Skip the test, saying `why`, when `found` (what the manifests name) is empty. An image with no
    manifest at all is no image of the factory: fail instead."""
    if not image_manifests():
        pytest.fail("the image has no component manifests in %s" % MANIFEST_DIR)
    if not found:
        pytest.skip(why)
    return found


def manifest_or_skip(name, why):
    """The manifest of the image's component `name`; skip the test when the image has none (`why`: what
    its absence means)."""
    return skip_unless_in_the_image(image_manifest(name), "%s: the image has no %s/%s.json" % (why, MANIFEST_DIR, name))


ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def pip_pins(component, role):
    """{name: version} of the pins the image's component `<component>-pip` installed: the project's
    requirements file its manifest names (roles/<role>/files/<details.requirements>), whose pip must be
    the manifest's version."""
    manifest = image_manifest(component + "-pip")
    assert manifest is not None, "no manifest %s-pip in the image" % component
    with open(os.path.join(ROOT, "roles", role, "files", manifest["details"]["requirements"])) as handle:
        pins = {n.lower(): v for n, v in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", handle.read(), re.M)}
    assert pins.get("pip") == manifest["version"], "%s names %s, whose pip is not the manifest's %s" % (
        manifest["name"], manifest["details"]["requirements"], manifest["version"])
    return pins


def image_versions(pattern):
    """Versions of the image's components whose name matches `pattern` (a group `nogil` adds a "t")."""
    found = []
    for manifest in image_manifests():
        match = re.fullmatch(pattern, manifest["name"])
        if match:
            found.append(manifest["version"] + ("t" if match.group("nogil") else ""))
    return sorted(found)


@pytest.fixture(scope="session")
def image():
    ref = _env("MANYLINUX_IMAGE")
    if docker("image", "inspect", ref, check=False).returncode != 0:
        pytest.fail("image %s does not exist" % ref)
    return ref


@pytest.fixture(scope="session")
def policy():
    return _env("MANYLINUX_POLICY")


@pytest.fixture(scope="session")
def arch():
    return _env("MANYLINUX_ARCH")


@pytest.fixture(scope="session")
def image_config(image):
    return json.loads(docker("image", "inspect", image).stdout)[0]


@pytest.fixture(scope="session")
def image_env(image_config):
    return dict(item.split("=", 1) for item in image_config["Config"]["Env"] or [])


@pytest.fixture(scope="session")
def ca_bundle():
    path = _env("MANYLINUX_CA_BUNDLE", required=False)
    if path and not os.path.isfile(path):
        pytest.fail("MANYLINUX_CA_BUNDLE=%s is not a file" % path)
    return path or None


@pytest.fixture(scope="session")
def newer_image():
    return _env("MANYLINUX_NEWER_IMAGE", required=False) or None


class ImageRunner:
    """Runs one-off commands in fresh containers of an image."""

    def __init__(self, image, ca_bundle):
        self.image = image
        self.ca_bundle = ca_bundle

    def args(self, env=None, volumes=(), workdir=None, ca=False, entrypoint=None):
        args = ["run", "--rm", "-i"]
        for key, value in (env or {}).items():
            args += ["-e", "%s=%s" % (key, value)]
        for volume in volumes:
            args += ["-v", volume]
        if ca and self.ca_bundle:
            args += ["-v", "%s:/run/manylinux-test-ca.pem:ro" % self.ca_bundle,
                     "-e", "PIP_CERT=/run/manylinux-test-ca.pem"]
        if workdir:
            args += ["-w", workdir]
        if entrypoint is not None:
            args += ["--entrypoint", entrypoint]
        return args

    def run(self, script, env=None, volumes=(), workdir=None, ca=False, check=True, image=None):
        """Run a shell script (sh -c) through the image's entrypoint; return the process."""
        proc = docker(*self.args(env, volumes, workdir, ca), image or self.image, "sh", "-c", script, check=False)
        if check and proc.returncode != 0:
            pytest.fail("command failed in %s (exit %d): %s\nstdout:\n%s\nstderr:\n%s"
                        % (image or self.image, proc.returncode, script, proc.stdout, proc.stderr))
        return proc


def python_json(runner, python, code, **kwargs):
    """Run `code` (which prints one JSON value last) with the interpreter `python` in the image."""
    proc = runner.run("%s - <<'EOF'\n%s\nEOF" % (python, code), **kwargs)
    return json.loads(proc.stdout.strip().splitlines()[-1])


IMPORT_FAILURES = """
import importlib, json
failed = {}
for name in %r:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = repr(exc)
print(json.dumps(failed))
"""


def import_failures(runner, python, modules):
    """{module: error} of the modules that `python` in the image cannot import."""
    return python_json(runner, python, IMPORT_FAILURES % (tuple(modules),))


# Top-level modules of sys.stdlib_module_names (3.10+) left out: those no Linux
# build has, those that act on import (a browser, a poem), Tk's (the explicit
# module lists check tkinter where it is built) and nis (3.10-3.12: glibc has
# no NIS headers since 2.26; upstream's modules-check.py does not ask for it
# either). Every other one must import, as modules-check.py asks.
NOT_CHECKED = {"nis", "msvcrt", "nt", "winreg", "winsound", "_winapi", "_overlapped", "_msi", "msilib", "_wmi",
                "_scproxy", "_osx_support", "_aix_support", "_android_support", "_ios_support",
                "_apple_support", "antigravity", "this", "__hello__", "__phello__", "_testcapi",
                "_testinternalcapi", "_testbuffer", "_testimportmultiple", "_testmultiphase",
                "_testsinglephase", "_testclinic", "_testclinic_limited", "_testlimitedcapi", "_xxtestfuzz",
                "_ctypes_test", "xxlimited", "xxlimited_35", "xxsubtype", "_xxsubinterpreters",
                "_xxinterpchannels", "_pyrepl", "_remote_debugging", "idlelib", "turtledemo", "_tkinter",
                "tkinter", "turtle"}
STDLIB_IMPORT_FAILURES = """
import importlib, json, sys
failed = {}
for name in sorted(set(sys.stdlib_module_names) - set(%r)):
    try:
        importlib.import_module(name)
    except ImportError as exc:
        failed[name] = repr(exc)
print(json.dumps(failed))
"""


def stdlib_import_failures(runner, python):
    """{module: error} of the standard library's modules (sys.stdlib_module_names less NOT_CHECKED)
    that `python` cannot import."""
    return python_json(runner, python, STDLIB_IMPORT_FAILURES % (sorted(NOT_CHECKED),))


# What extensions that users build get from sysconfig (setuptools, meson-python, scikit-build).
USER_BUILD_VARS = ("CC", "CXX", "LDSHARED", "LDCXXSHARED", "CFLAGS", "CPPFLAGS", "LDFLAGS", "CCSHARED")


def sysconfig_problems(runner, python, policy):
    """What in `python`'s sysconfig differs from upstream's images: the compilers and link commands
    of modules-check.py (gcc/g++, with -pthread on the glibc policies) and no path into /opt/_internal
    (the private libraries, which a user's extension must not link)."""
    values = python_json(runner, python, "import json, sysconfig; print(json.dumps("
                                         "{n: sysconfig.get_config_var(n) for n in %r}))" % (USER_BUILD_VARS,))
    pthread = "" if policy.startswith("musllinux") else " -pthread"
    expected = {"CC": "gcc" + pthread, "CXX": "g++" + pthread,
                "LDSHARED": "gcc%s -shared" % pthread, "LDCXXSHARED": "g++%s -shared" % pthread}
    problems = ["%s is %r, upstream's is %r" % (name, values[name], want)
                for name, want in expected.items() if values[name] != want]
    problems += ["%s names a private path: %r" % (name, values[name])
                 for name in USER_BUILD_VARS if "/opt/_internal" in str(values[name] or "")]
    return problems


@pytest.fixture(scope="session")
def run_in_image(image, ca_bundle):
    return ImageRunner(image, ca_bundle)


@pytest.fixture(scope="session")
def container(image):
    """A long-running container of the image (started through its entrypoint), as a testinfra host."""
    name = "manylinux-test-%s" % uuid.uuid4().hex[:8]
    docker("run", "-d", "--name", name, image, "tail", "-f", "/dev/null")
    try:
        yield testinfra.get_host("docker://%s" % name)
    finally:
        docker("rm", "-f", name, check=False)
