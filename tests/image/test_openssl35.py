"""The private OpenSSL 3.5 (role openssl35) in the committed image.

The expected release is the version of the image's manifest openssl.json
(which MANYLINUX_OPENSSL_VERSION, when set, must be); an image without that
manifest holds no private OpenSSL, and these checks skip.
"""

import os
import re

import pytest

from conftest import manifest_or_skip

PREFIX = "/opt/_internal/openssl-3.5"
OPENSSL = PREFIX + "/bin/openssl"
LIBS = ("libssl.so.3", "libcrypto.so.3")

# manylinux's hardening flags, which the role passes to Configure.
HARDENING_CFLAGS = ("-fstack-protector-strong", "-Werror=format-security", "-D_FORTIFY_SOURCE=2", "-O2")


@pytest.fixture(scope="module", autouse=True)
def manifest(image):
    return manifest_or_skip("openssl", "the image holds no private OpenSSL (role openssl35 was not applied)")


@pytest.fixture(scope="module")
def expected_version(manifest):
    return str(manifest["version"])


def test_the_release_asked_for(expected_version):
    asked = os.environ.get("MANYLINUX_OPENSSL_VERSION")
    if not asked:
        pytest.skip("MANYLINUX_OPENSSL_VERSION is not set: the image's manifest alone says which release it has")
    assert expected_version == asked


def test_layout(container):
    assert container.file(OPENSSL).is_file
    assert container.file(OPENSSL).mode & 0o111
    for lib in LIBS:
        assert container.file("%s/lib/%s" % (PREFIX, lib)).is_file
    assert container.file(PREFIX + "/include/openssl/ssl.h").is_file
    assert container.file(PREFIX + "/lib/pkgconfig/openssl.pc").is_file
    # install_sw: no manual pages or HTML docs
    assert not container.file(PREFIX + "/share").exists


def test_version_is_the_pin(run_in_image, expected_version):
    assert expected_version.startswith("3.5.")
    out = run_in_image.run(OPENSSL + " version").stdout
    assert out.startswith("OpenSSL %s " % expected_version), out
    assert "Library: OpenSSL %s " % expected_version in out, out


def test_openssldir_is_the_prefix(run_in_image):
    out = run_in_image.run(OPENSSL + " version -d").stdout.strip()
    assert out == 'OPENSSLDIR: "%s"' % PREFIX


def test_built_with_hardening_flags(run_in_image):
    compiler = run_in_image.run(OPENSSL + " version -f").stdout
    for flag in HARDENING_CFLAGS:
        assert flag in compiler.split(), "%s missing from %s" % (flag, compiler)


def test_finds_its_libraries_without_ld_library_path(run_in_image):
    out = run_in_image.run("env -u LD_LIBRARY_PATH ldd %s" % OPENSSL).stdout
    for lib in LIBS:
        assert re.search(r"^\s*%s => %s/lib/%s " % (re.escape(lib), re.escape(PREFIX), re.escape(lib)), out, re.M), out
    assert "not found" not in out


def test_rpath_and_bind_now(run_in_image, arch):
    for path in (OPENSSL,) + tuple("%s/lib/%s" % (PREFIX, lib) for lib in LIBS):
        dynamic = run_in_image.run("readelf -d %s" % path).stdout
        assert re.search(r"\((RUNPATH|RPATH)\)\s+Library r(un)?path: \[%s/lib\]" % re.escape(PREFIX), dynamic), dynamic
        assert "BIND_NOW" in dynamic or re.search(r"FLAGS_1.*\bNOW\b", dynamic), dynamic
        if arch == "i686" and "libcrypto" in path:
            assert "[libatomic.so.1]" in dynamic, dynamic


def test_stripped(run_in_image):
    for path in (OPENSSL,) + tuple("%s/lib/%s" % (PREFIX, lib) for lib in LIBS):
        sections = run_in_image.run("readelf -S --wide %s" % path).stdout
        assert ".symtab" not in sections, "%s has a symbol table" % path
        assert ".debug_info" not in sections, "%s has debug info" % path


def test_distro_openssl_headers_removed(container):
    assert not container.file("/usr/include/openssl/ssl.h").exists


def test_manifest(manifest, expected_version, image_config):
    assert manifest["prefix"] == PREFIX
    assert image_config["Config"]["Labels"]["io.github.manylinux-shared.openssl"] == expected_version
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["key"])
    assert [source["file"] for source in manifest["sources"]] == ["openssl-%s.tar.gz" % expected_version]
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["sources"][0]["sha256"])
