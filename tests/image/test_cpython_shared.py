"""The shared CPythons (role cpython_shared) in the committed image.

The shared CPythons are those the image's manifests name (components
shared-cpython-X.Y[-nogil]), e.g. 3.13.14, 3.14.6; a trailing "t" ("3.14.6t")
means a free-threading build (/opt/shared-cpython-3.14-nogil, py3.14t).
MANYLINUX_SHARED_VERSIONS (optional, comma separated) names the ones the image
must have. An image whose manifests name none (role cpython_shared not
applied) skips these checks.

For each, a venv gets PyInstaller (requirements-pyinstaller.txt, hash-checked)
and freezes a small program with --onefile; the executable must run in the
image and, copied out, in MANYLINUX_NEWER_IMAGE (a newer distribution).
"""

import json
import os
import re

import pytest

from conftest import (docker, image_manifests, image_versions, import_failures, pip_pins, skip_unless_in_the_image,
                      stdlib_import_failures, sysconfig_problems)
from conftest import python_json as run_python_json

HERE = os.path.dirname(os.path.abspath(__file__))
PYINSTALLER_REQUIREMENTS = os.path.join(HERE, "requirements-pyinstaller.txt")
OPENSSL_LIB = "/opt/_internal/openssl-3.5/lib"
MODULES = ("ssl", "hashlib", "sqlite3", "ctypes", "zlib", "lzma", "bz2", "readline", "decimal", "uuid")

# The frozen program: what it was built with, and the C library it runs on.
PROGRAM = r'''
import json, os, platform, sqlite3, ssl, sys
try:
    libc = os.confstr("CS_GNU_LIBC_VERSION")
except (ValueError, OSError):
    libc = None
try:
    from compression import zstd
    zstd_version = ".".join(map(str, zstd.zstd_version_info))
except ImportError:  # before 3.14
    zstd_version = None
print(json.dumps({"python": platform.python_version(), "openssl": ssl.OPENSSL_VERSION,
                  "sqlite": sqlite3.sqlite_version, "zstd": zstd_version, "libc": libc or "unknown",
                  "frozen": getattr(sys, "frozen", False)}))
'''


class Shared:
    """One shared interpreter, as named in MANYLINUX_SHARED_VERSIONS."""

    def __init__(self, spec):
        match = re.fullmatch(r"(3\.\d+)(\.\d+(?:(?:a|b|rc)\d+)?)(t?)", spec)
        if not match:
            pytest.fail("MANYLINUX_SHARED_VERSIONS: %r is not a version such as 3.13.14 or 3.14.6t" % spec)
        self.minor, self.version = match.group(1), match.group(1) + match.group(2)
        self.free_threading = match.group(3) == "t"
        abiflags = "t" if self.free_threading else ""
        self.prefix = "/opt/shared-cpython-%s%s" % (self.minor, "-nogil" if self.free_threading else "")
        self.python_name = "python%s%s" % (self.minor, abiflags)
        self.python = "%s/bin/%s" % (self.prefix, self.python_name)
        self.wrapper = "/usr/local/bin/py%s%s" % (self.minor, abiflags)
        self.libpython = "libpython%s%s.so.1.0" % (self.minor, abiflags)

    def __repr__(self):
        return self.version + ("t" if self.free_threading else "")


SHARED_COMPONENT = r"shared-cpython-3\.\d+(?P<nogil>-nogil)?"


def _specs():
    return image_versions(SHARED_COMPONENT) or [None]


@pytest.fixture(scope="module", params=_specs(), ids=lambda spec: spec or "none")
def shared(request, image):
    return Shared(skip_unless_in_the_image(request.param, "the image holds no shared CPython (no manifest "
                                           "shared-cpython-X.Y in /opt/_internal/manifests: role cpython_shared was "
                                           "not applied)"))


def test_the_image_has_the_shared_cpythons_asked_for():
    asked = [spec.strip() for spec in os.environ.get("MANYLINUX_SHARED_VERSIONS", "").split(",") if spec.strip()]
    if not asked:
        pytest.skip("MANYLINUX_SHARED_VERSIONS is not set")
    assert image_versions(SHARED_COMPONENT) == sorted(asked)


def python_json(run_in_image, shared, code):
    """Run `code` (which prints one JSON value) with the interpreter's wrapper; return the value."""
    return run_python_json(run_in_image, shared.wrapper, code)


def test_prefix_links(container, shared):
    python = container.file(shared.prefix + "/bin/python")
    assert python.is_symlink and python.linked_to == shared.python
    pip = container.file(shared.prefix + "/bin/pip")
    assert pip.is_symlink and pip.linked_to == shared.prefix + "/bin/pip3"
    assert container.file(shared.prefix + "/bin/pip3").is_file


def test_wrapper_is_a_script(container, shared):
    wrapper = container.file(shared.wrapper)
    assert wrapper.is_file and not wrapper.is_symlink
    assert wrapper.mode & 0o111 == 0o111
    content = wrapper.content_string
    assert content.startswith("#!/bin/sh\n")
    assert re.search(r'^exec %s "\$@"$' % re.escape(shared.python), content, re.M), content


def test_version_is_the_pin(run_in_image, shared):
    out = run_in_image.run("%s -VV" % shared.wrapper).stdout
    assert out.startswith("Python %s " % shared.version), out
    assert ("free-threading build" in out) == shared.free_threading, out


def test_libpython_from_own_prefix_without_ld_library_path(run_in_image, shared):
    out = run_in_image.run("env -u LD_LIBRARY_PATH ldd %s" % shared.python).stdout
    assert re.search(r"^\s*%s => %s/lib/%s " % (re.escape(shared.libpython), re.escape(shared.prefix),
                                                  re.escape(shared.libpython)), out, re.M), out
    assert "not found" not in out
    # and the interpreter really starts that way
    proc = run_in_image.run("env -u LD_LIBRARY_PATH %s -c 'import sys; print(sys.prefix)'" % shared.python)
    assert proc.stdout.strip() == shared.prefix


def test_ssl_and_hashlib_link_the_private_openssl(run_in_image, shared):
    files = python_json(run_in_image, shared, "import json, _ssl, _hashlib; "
                                              "print(json.dumps([_ssl.__file__, _hashlib.__file__]))")
    expected = {files[0]: ("libssl.so.3", "libcrypto.so.3"), files[1]: ("libcrypto.so.3",)}
    for path, libs in expected.items():
        out = run_in_image.run("env -u LD_LIBRARY_PATH ldd %s" % path).stdout
        for lib in libs:
            assert re.search(r"^\s*%s => %s/%s " % (re.escape(lib), re.escape(OPENSSL_LIB), re.escape(lib)),
                             out, re.M), "%s: %s not from %s\n%s" % (path, lib, OPENSSL_LIB, out)


def test_openssl_version(run_in_image, shared):
    version = python_json(run_in_image, shared, "import json, ssl; print(json.dumps(ssl.OPENSSL_VERSION))")
    assert version.startswith("OpenSSL 3.5"), version


def test_enable_shared_and_hardening(run_in_image, shared):
    config = python_json(run_in_image, shared, "import json, sysconfig; print(json.dumps("
                                               "[sysconfig.get_config_var(n) for n in "
                                               "('Py_ENABLE_SHARED', 'CONFIG_ARGS', 'Py_GIL_DISABLED',"
                                               " 'CONFIGURE_CFLAGS_NODIST', 'CONFIGURE_LDFLAGS_NODIST')]))")
    enable_shared, config_args, gil_disabled, cflags_nodist, ldflags_nodist = config
    assert enable_shared == 1
    assert "--with-openssl=/opt/_internal/openssl-3.5" in config_args
    assert "-fstack-protector-strong" in cflags_nodist and "-Wl,-z,now" in ldflags_nodist
    assert "-Wl,-rpath=%s/lib" % shared.prefix in ldflags_nodist
    assert bool(gil_disabled) == shared.free_threading
    dynamic = run_in_image.run("readelf -d %s" % shared.python).stdout
    assert "BIND_NOW" in dynamic or re.search(r"FLAGS_1.*\bNOW\b", dynamic), dynamic


def test_sysconfig_gives_extensions_upstreams_compilers_and_no_private_paths(run_in_image, shared, policy):
    assert sysconfig_problems(run_in_image, shared.python, policy) == []


def test_the_whole_standard_library_imports(run_in_image, shared):
    if tuple(int(part) for part in shared.minor.split(".")) < (3, 10):
        pytest.skip("sys.stdlib_module_names is 3.10+: 3.9 is checked by the module list of test_stdlib_modules_import")
    assert stdlib_import_failures(run_in_image, shared.python) == {}


def test_stdlib_modules_import(run_in_image, shared):
    assert import_failures(run_in_image, shared.wrapper, MODULES) == {}


def test_stripped_and_no_bytecode(run_in_image, shared):
    sections = run_in_image.run("readelf -S --wide %s/lib/%s" % (shared.prefix, shared.libpython)).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections
    leftovers = run_in_image.run("find %s -name '*.pyc' | head -5" % shared.prefix).stdout.split()
    assert leftovers == []


def test_pinned_tools(run_in_image, shared):
    expected = {name: version for name, version in pip_pins(shared.prefix.rsplit("/", 1)[1], "cpython_shared").items()
                if name in ("pip", "build", "packaging")}
    assert len(expected) == 3
    installed = python_json(run_in_image, shared, "import json, importlib.metadata as m; print(json.dumps("
                                                  "{n: m.version(n) for n in %r}))" % (sorted(expected),))
    assert installed == expected
    out = run_in_image.run("%s/bin/pip --version" % shared.prefix).stdout
    assert out.startswith("pip %s from %s/" % (expected["pip"], shared.prefix)), out


@pytest.fixture(scope="module")
def frozen(run_in_image, shared, tmp_path_factory):
    """PyInstaller --onefile build of PROGRAM in a venv of the interpreter: (host dir, output in the image)."""
    out = tmp_path_factory.mktemp("frozen-%s" % shared)
    with open(os.path.join(out, "app.py"), "w") as handle:
        handle.write(PROGRAM)
    script = """set -e
%(wrapper)s -m venv /tmp/venv
/tmp/venv/bin/python -m pip install --quiet --disable-pip-version-check --no-cache-dir \
    --require-hashes -r /requirements-pyinstaller.txt
cd /tmp
/tmp/venv/bin/pyinstaller --log-level WARN --onefile --name app --distpath /out --workpath /tmp/build \
    --specpath /tmp /out/app.py
/out/app
chown -R %(uid)d:%(gid)d /out
""" % {"wrapper": shared.wrapper, "uid": os.getuid(), "gid": os.getgid()}
    proc = run_in_image.run(script, ca=True, volumes=[
        "%s:/out" % out, "%s:/requirements-pyinstaller.txt:ro" % PYINSTALLER_REQUIREMENTS])
    return str(out), json.loads(proc.stdout.strip().splitlines()[-1])


def image_libc(image):
    """glibc version string of an image ("glibc 2.31"), or None on musl."""
    proc = docker("run", "--rm", "--entrypoint", "/bin/sh", image, "-c", "getconf GNU_LIBC_VERSION", check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def test_pyinstaller_onefile_runs_in_the_image(frozen, shared, run_in_image, image):
    _, report = frozen
    assert report["frozen"] is True
    assert report["python"] == shared.version
    assert report["openssl"].startswith("OpenSSL 3.5")
    sqlite = python_json(run_in_image, shared, "import json, sqlite3; print(json.dumps(sqlite3.sqlite_version))")
    assert report["sqlite"] == sqlite
    # compression.zstd (3.14+) bundled with the toolchain's libzstd
    zstd = next((m["version"] for m in image_manifests() if m["name"] == "zstd"), None)
    if tuple(int(x) for x in shared.minor.split(".")) >= (3, 14) and zstd:
        assert report["zstd"] == zstd, report
    else:
        assert report["zstd"] is None or not zstd, report
    libc = image_libc(image)
    if libc:
        assert report["libc"] == libc


def test_pyinstaller_onefile_runs_on_a_newer_distribution(frozen, shared, newer_image, image):
    if not newer_image:
        pytest.skip("MANYLINUX_NEWER_IMAGE is not set: no newer distribution to run the frozen program in")
    out, built = frozen
    proc = docker("run", "--rm", "-v", "%s:/out:ro" % out, "--entrypoint", "/out/app", newer_image, check=False)
    assert proc.returncode == 0, "frozen program failed in %s:\n%s%s" % (newer_image, proc.stdout, proc.stderr)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["python"] == shared.version
    assert report["openssl"] == built["openssl"]  # the bundled OpenSSL 3.5, not the distribution's
    assert report["sqlite"] == built["sqlite"]
    assert report["zstd"] == built["zstd"]
    newer_libc = image_libc(newer_image)
    if newer_libc:
        assert report["libc"] == newer_libc
        assert report["libc"] != image_libc(image), "the newer image has the same C library as the image"
