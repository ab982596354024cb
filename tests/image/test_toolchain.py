"""Checks of the toolchain role's work in a committed image.

The runtime base (always): compilers, tools, headers of the libraries wheels
may link, none of the compile-only packages, the en_US.UTF-8 locale,
/opt/_internal/certs.pem. The components (what manylinux builds from
source): each piece is checked when its manifest is in the image and skipped,
naming the piece, when the build switched it off; what a piece's manifest
records (its version, prefix and prefixes: where sqlite3.pc is linked) is
what it is checked against.
"""

import json
import re
import uuid

import pytest

from conftest import MANIFEST_DIR, manifest_or_skip

CERTS = "/opt/_internal/certs.pem"
# What upstream's install-build-packages.sh installs on Debian and Ubuntu to compile CPython and its
# libraries (COMPILE_DEPS), and its runtime image leaves out; libssl-dev: the base's OpenSSL headers.
APT_COMPILE_ONLY = ("libbz2-dev", "libcurl4-openssl-dev", "libdb-dev", "libffi-dev", "libgdbm-compat-dev",
                    "libgdbm-dev", "liblzma-dev", "libncurses-dev", "libreadline-dev", "linux-libc-dev", "tk-dev",
                    "uuid-dev", "libssl-dev")
# What upstream's update-system-packages.sh prunes at finalize: the locale directories keep only
# these entries, these directories are emptied (the directory stays, pypa/manylinux#1060), these go.
PRUNED_LOCALE_DIRS = ("/usr/share/locale", "/usr/local/share/locale")
PRUNED_LOCALE_KEEP = ("en", "locale.alias")
EMPTIED_DIRS = ("/usr/local/share/man",)
PRUNED_PATHS = ("/usr/share/backgrounds",)


def run(host, script):
    """Run a shell script in the container; fail with its output unless it exits 0."""
    result = host.run(script)
    assert result.rc == 0, "exit %d: %s\nstdout:\n%s\nstderr:\n%s" % (
        result.rc, script, result.stdout, result.stderr)
    return result


def build_and_run(host, source, compile_args="", lang="c", env=None):
    """Compile `source` in a scratch directory of the container, run it, return its stdout.

    `env` (a dict) is exported for both the compile (and its $(pkg-config ...)) and the run.
    """
    work = "/tmp/toolchain-test-%s" % uuid.uuid4().hex[:8]
    suffix, compiler = {"c": (".c", "cc"), "c++": (".cpp", "c++"), "fortran": (".f90", "gfortran")}[lang]
    script = (
        "set -e; mkdir -p {w}; cd {w}\n"
        "cat > t{s} <<'EOF_SOURCE'\n{src}\nEOF_SOURCE\n"
        "{env}{cc} -o t t{s} {args}\n"
        "./t\n"
    ).format(w=work, s=suffix, src=source, cc=compiler, args=compile_args,
             env="".join("export %s='%s'\n" % kv for kv in (env or {}).items()))
    try:
        return run(host, script).stdout
    finally:
        host.run("rm -rf %s" % work)


def manifest(host, name):
    """The manifest of a component built from source, or skip: the build switched it off."""
    return manifest_or_skip(name, "%s was not built from source (switched off for this build)" % name)


def pkg_config_only(prefix):
    """Environment that finds a prefix only through pkg-config, and nothing through LD_LIBRARY_PATH."""
    return {"PKG_CONFIG_PATH": prefix + "/lib/pkgconfig", "LD_LIBRARY_PATH": ""}


def version_tuple(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


@pytest.fixture(scope="module")
def musl(policy):
    return policy.startswith("musllinux")


# --- Compilers and tools -----------------------------------------------------

def test_c_compiler_builds_a_program_that_runs(container):
    out = build_and_run(container, '#include <stdio.h>\nint main(void){puts("hello from C");return 0;}')
    assert out.strip() == "hello from C"


def test_cxx_compiler_builds_a_program_that_runs(container):
    out = build_and_run(
        container,
        '#include <iostream>\n#include <string>\n'
        'int main(){std::string s("hello from C++");std::cout<<s<<std::endl;return 0;}',
        lang="c++")
    assert out.strip() == "hello from C++"


def test_fortran_compiler_builds_a_program_that_runs(container):
    out = build_and_run(container, 'program t\n  print "(A)", "hello from Fortran"\nend program t', lang="fortran")
    assert out.strip() == "hello from Fortran"


def test_compilers_come_from_the_policy_toolset(container, image_env):
    """With a devtoolset / gcc-toolset policy, gcc on PATH is the toolset's, not the base's."""
    root = image_env.get("DEVTOOLSET_ROOTPATH", "")
    gcc = run(container, "command -v gcc").stdout.strip()
    if root:
        assert gcc.startswith(root + "/"), "gcc is %s, not under %s" % (gcc, root)
    else:
        assert gcc in ("/usr/bin/gcc", "/bin/gcc"), gcc


# How to ask each tool for its version (most take --version).
VERSION_FLAG = {"unzip": "-v"}


@pytest.mark.parametrize("tool", [
    "make", "patch", "perl", "unzip", "file", "xz", "tar", "gzip", "bzip2", "pkg-config",
    "git", "curl", "bison", "diff", "autoconf", "automake", "m4", "strip", "ar", "ld",
])
def test_tool_is_on_path_and_runs(container, tool):
    result = container.run("command -v %s" % tool)
    assert result.rc == 0 and result.stdout.strip(), "%s is not on PATH" % tool
    flag = VERSION_FLAG.get(tool, "--version")
    assert container.run("%s %s </dev/null" % (tool, flag)).rc == 0, "%s %s fails" % (tool, flag)


def test_perl_has_the_module_openssl_configure_needs(container):
    """OpenSSL 3's Configure uses IPC::Cmd, packaged apart on RHEL (manylinux installs perl-IPC-Cmd)."""
    run(container, "perl -MIPC::Cmd -e 1")


def test_headers_of_the_libraries_wheels_may_link_compile_and_link(container):
    """The -dev packages of the libraries manylinux policies allow: headers found, libraries linked."""
    source = ('#include <zlib.h>\n#include <expat.h>\n#include <stdio.h>\n'
              'int main(void){XML_Parser p = XML_ParserCreate(NULL); XML_ParserFree(p);'
              'printf("%s\\n", zlibVersion()); return 0;}')
    out = build_and_run(container, source, compile_args="-lz -lexpat")
    assert re.match(r"^\d+\.\d+", out.strip()), out


def test_compile_only_packages_are_not_in_the_image(container):
    """What only compiling the components needs is in the build base, not the image (manylinux's
    runtime_base): each such package is absent, or there only as a dependency of a runtime package."""
    if not container.exists("dpkg-query"):
        pytest.skip("checked on apt bases (the ones built here)")
    compile_only = list(APT_COMPILE_ONLY)
    manual = set(run(container, "apt-mark showmanual").stdout.split())
    absent = []
    for package in compile_only:
        status = container.run("dpkg-query -W -f '${Status}' %s" % package)
        if status.rc != 0 or "not-installed" in status.stdout or "deinstall" in status.stdout:
            absent.append(package)
            continue
        assert package not in manual, "%s (compile-only) was installed into the image" % package
        needed_by = run(container, "apt-cache rdepends --installed %s" % package).stdout.split()[2:]
        assert needed_by, "%s is in the image, and no installed package depends on it" % package
    # most of them: CPython's module headers (bz2, readline, gdbm, tk, ...) that no runtime package pulls in
    assert len(absent) * 2 >= len(compile_only), "only %s of %s are absent" % (absent, compile_only)
    assert {"libreadline-dev", "libbz2-dev", "tk-dev", "libgdbm-dev"} <= set(absent), absent


def test_openssl_runtime_without_the_bases_headers(container):
    """openssl (runtime) is there; the base's libssl headers are not (openssl35 builds its own)."""
    run(container, "openssl version")
    assert not container.file("/usr/include/openssl/ssl.h").exists, "the base's OpenSSL headers are installed"


# --- Locale and CA bundle -----------------------------------------------------

def test_en_us_utf8_locale_works(container, musl):
    if musl:
        pytest.skip("musl has no locale data; UTF-8 is its only charset")
    listed = run(container, "locale -a").stdout.split()
    assert "en_US.utf8" in listed, "en_US.UTF-8 missing from `locale -a`: %s" % listed
    result = container.run("LC_ALL=en_US.UTF-8 LANG=en_US.UTF-8 locale charmap")
    assert result.rc == 0
    assert result.stdout.strip() == "UTF-8"
    assert "Cannot set" not in result.stderr, result.stderr


def test_image_environment_names_the_locale_and_bundle(image_env):
    assert image_env.get("LANG") == "en_US.UTF-8"
    assert image_env.get("LC_ALL") == "en_US.UTF-8"
    assert image_env.get("SSL_CERT_FILE") == CERTS


def test_certs_pem_resolves_to_a_readable_bundle(container):
    link = container.file(CERTS)
    assert link.exists, "%s is missing" % CERTS
    target = run(container, "readlink -f %s" % CERTS).stdout.strip()
    bundle = container.file(target)
    assert bundle.is_file and bundle.size > 10000, "%s -> %s is not a CA bundle" % (CERTS, target)
    count = int(run(container, "grep -c 'BEGIN CERTIFICATE' %s" % CERTS).stdout)
    assert count > 50, "%s holds only %d certificates" % (CERTS, count)
    # every certificate in it parses
    run(container, "openssl crl2pkcs7 -nocrl -certfile %s | openssl pkcs7 -noout" % CERTS)


# --- What manylinux builds from source ------------------------------------------

def test_manifests_describe_what_was_built(container):
    listing = container.run("ls %s/*.json 2>/dev/null" % MANIFEST_DIR).stdout.split()
    mine = {"autoconf", "automake", "libtool", "libxcrypt", "git", "git-lfs", "curl", "sqlite3", "tcl", "tk", "mpdecimal", "zstd"}
    found = [p for p in listing if p.rsplit("/", 1)[-1][:-5] in mine]
    if not found:
        pytest.skip("no component was built from source")
    for path in found:
        data = json.loads(container.file(path).content_string)
        assert set(data) >= {"name", "version", "key", "sources", "prefix", "prefixes", "needs", "details"}, path
        assert re.fullmatch(r"[0-9a-f]{64}", data["key"]), path
        assert data["sources"] and all(re.fullmatch(r"[0-9a-f]{64}", s["sha256"]) for s in data["sources"]), path
        assert container.file(data["prefix"]).is_directory, "%s: prefix %s missing" % (path, data["prefix"])


@pytest.mark.parametrize("name,command", [
    ("autoconf", "autoconf"), ("automake", "automake"), ("libtool", "libtoolize"),
])
def test_autotools_from_source_come_first(container, name, command):
    data = manifest(container, name)
    assert run(container, "command -v %s" % command).stdout.strip() == "/usr/local/bin/%s" % command
    first = run(container, "%s --version" % command).stdout.splitlines()[0]
    assert version_tuple(first) == version_tuple(data["version"]), first


def test_git_from_source_is_the_only_git(container):
    """upstream's build-git.sh: git in /usr/local, and no git package of the base beside it."""
    data = manifest(container, "git")
    assert run(container, "command -v git").stdout.strip() == "/usr/local/bin/git"
    assert version_tuple(run(container, "git --version").stdout) == version_tuple(data["version"])
    if container.exists("dpkg-query"):
        status = container.run("dpkg-query -W -f '${Status}' git")
        assert status.rc != 0 or "not-installed" in status.stdout, "the base's git package is installed"
    elif container.exists("rpm"):
        assert container.run("rpm -q git").rc != 0, "the base's git package is installed"
    elif container.exists("apk"):
        assert container.run("apk info -e git").rc != 0, "the base's git package is installed"


def test_git_commits_clones_and_has_its_https_helper(container):
    """A commit and a clone work, and https reaches libcurl: the helper links and tries to connect
    (a git built without curl says remote-https is not a git command)."""
    manifest(container, "git")
    script = r"""set -e
d=$(mktemp -d); cd $d
git init -q -b main src
git -C src -c user.name=t -c user.email=t@example.invalid commit -q --allow-empty -m first
git clone -q "file://$d/src" copy
git -C copy log --format=%s
if ldd "$(git --exec-path)/git-remote-https" | grep 'not found' >&2; then exit 1; fi
cd /; rm -rf $d
"""
    assert run(container, script).stdout.split() == ["first"]
    result = container.run("git ls-remote https://127.0.0.1:9/nothing.git")
    assert result.rc != 0
    assert "remote-https" not in result.stderr and re.search(r"(?i)connect", result.stderr), result.stderr


def test_git_lfs_runs_and_its_filters_are_in_the_system_config(container):
    """upstream's install-git-lfs.sh: `git lfs` works; its filters are set for every user."""
    data = manifest(container, "git-lfs")
    assert version_tuple(run(container, "git lfs version").stdout) == version_tuple(data["version"])
    assert run(container, "git config --system --get filter.lfs.process").stdout.strip() == "git-lfs filter-process"


def test_libtool_builds_a_shared_library(container):
    """libtoolize + the base's aclocal/automake + autoconf: an autotools project that makes a .so."""
    manifest(container, "libtool")
    script = r"""set -e
d=$(mktemp -d); cd $d; mkdir m4
printf 'int f(void){return 42;}\n' > f.c
printf 'AC_INIT([t],[1])\nAC_CONFIG_MACRO_DIR([m4])\nAM_INIT_AUTOMAKE([foreign])\nAC_PROG_CC\nLT_INIT\nAC_CONFIG_FILES([Makefile])\nAC_OUTPUT\n' > configure.ac
printf 'ACLOCAL_AMFLAGS = -I m4\nlib_LTLIBRARIES = libf.la\nlibf_la_SOURCES = f.c\n' > Makefile.am
libtoolize --copy --quiet
aclocal -I m4
autoconf
automake --add-missing --copy 2>/dev/null
./configure -q
make -s >/dev/null 2>&1
ls .libs/libf.so*
grep -m1 '^macro_version=' libtool
cd /; rm -rf $d
"""
    out = run(container, script).stdout
    assert ".libs/libf.so" in out, out
    assert re.search(r"macro_version=%s\b" % re.escape(manifest(container, "libtool")["version"]), out), out


def test_sqlite_has_fts5_and_is_recent(container):
    data = manifest(container, "sqlite3")
    prefix = data["prefix"]
    sql = ("CREATE VIRTUAL TABLE t USING fts5(body);"
           "INSERT INTO t VALUES ('manylinux shared images'), ('something else');"
           "SELECT count(*) FROM t WHERE t MATCH 'shared';"
           "SELECT sqlite_version();")
    out = run(container, "%s/bin/sqlite3 :memory: \"%s\"" % (prefix, sql)).stdout.split()
    assert out[0] == "1", out
    assert out[1] == data["version"], out
    assert version_tuple(out[1]) >= (3, 50), out


def test_sqlite_links_through_pkg_config_without_ld_library_path(container):
    data = manifest(container, "sqlite3")
    source = ('#include <stdio.h>\n#include <sqlite3.h>\n'
              'int main(void){printf("%s %d\\n", sqlite3_libversion(), '
              'sqlite3_compileoption_used("ENABLE_FTS5"));return 0;}')
    flags = "$(pkg-config --cflags --libs sqlite3)"
    out = build_and_run(container, source, compile_args=flags,
                        env=pkg_config_only(data["prefix"]))
    assert out.split() == [data["version"], "1"], out


def test_tcl_and_tk_are_built(container):
    tcl = manifest(container, "tcl")
    tk = manifest(container, "tk")
    series = ".".join(tcl["version"].split(".")[:2])
    out = run(container, "echo 'puts [info patchlevel]' | %s/bin/tclsh%s" % (tcl["prefix"], series)).stdout
    assert out.strip() == tcl["version"]
    for lib in ("libtcl%s.so" % series, "libtk%s.so" % series):
        path = "%s/lib/%s" % (tk["prefix"], lib)
        assert container.file(path).exists, path
        assert "not found" not in run(container, "ldd %s" % path).stdout, path
    assert container.file("%s/lib/tk%s/tk.tcl" % (tk["prefix"], series)).exists
    assert run(container, "PKG_CONFIG_PATH=%s/lib/pkgconfig pkg-config --modversion tk" % tk["prefix"]).stdout.strip() \
        == tk["version"]


def test_mpdecimal_links_through_pkg_config(container):
    data = manifest(container, "mpdecimal")
    source = ('#include <stdio.h>\n#include <mpdecimal.h>\n'
              'int main(void){printf("%s\\n", mpd_version());return 0;}')
    out = build_and_run(container, source, compile_args="$(pkg-config --cflags --libs libmpdec)",
                        env=pkg_config_only(data["prefix"]))
    assert out.strip() == data["version"]


def test_zstd_is_multithreaded_and_links_through_pkg_config(container):
    data = manifest(container, "zstd")
    source = ('#include <stdio.h>\n#include <zstd.h>\n'
              'int main(void){ZSTD_CCtx *c = ZSTD_createCCtx();'
              'size_t r = ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, 2);'
              'printf("%s %d\\n", ZSTD_versionString(), ZSTD_isError(r) ? 0 : 1);'
              'ZSTD_freeCCtx(c);return 0;}')
    out = build_and_run(container, source, compile_args="$(pkg-config --cflags --libs libzstd)",
                        env=pkg_config_only(data["prefix"]))
    assert out.split() == [data["version"], "1"], "version / multithreading: %s" % out


def test_libxcrypt_provides_both_sonames(container):
    data = manifest(container, "libxcrypt")
    for soname in ("libcrypt.so.1", "libcrypt.so.2"):
        assert container.file("/usr/local/lib/%s" % soname).exists, soname
    source = ('#include <stdio.h>\n#include <crypt.h>\n'
              'int main(void){const char *h = crypt("pw", "$6$saltsalt$");'
              'printf("%s %s\\n", h ? h : "null", XCRYPT_VERSION_STR);return 0;}')
    out = build_and_run(container, source, compile_args="-I/usr/local/include -L/usr/local/lib -lcrypt").split()
    assert out[0].startswith("$6$saltsalt$") and out[1] == data["version"], out


def test_yasm_on_x86_64(container, arch):
    if arch != "x86_64":
        pytest.skip("upstream installs yasm on x86_64 images only")
    assert container.run("yasm --version").rc == 0


def test_login_shell_is_bash(run_in_image):
    # upstream's run_tests.sh: test "$SHELL" = /bin/bash (musllinux sets bash as root's and useradd's shell)
    assert run_in_image.run("bash -lc 'echo \"$SHELL\"'").stdout.strip() == "/bin/bash"


def test_ld_so_conf_names_the_local_library_directories(container, musl):
    if musl:
        pytest.skip("musl's dynamic linker has no ld.so.conf.d (upstream writes it on manylinux only)")
    # /usr/local/lib first, then /usr/local/lib64 where the base has it (pypa/manylinux#1022, #1886)
    conf = container.file("/etc/ld.so.conf.d/00-manylinux.conf").content_string.split()
    assert conf in (["/usr/local/lib"], ["/usr/local/lib", "/usr/local/lib64"]), conf
    assert all(container.file(d).is_directory for d in conf), conf


def sqlite_pc_link(container):
    """sqlite3's manifest, and the directory its sqlite3.pc is linked into (a prefix of the component
    besides its own, as upstream on manylinux2014, manylinux_2_28 and musllinux_1_2), or skip."""
    data = manifest(container, "sqlite3")
    links = [p for p in data["prefixes"] if p != data["prefix"]]
    if not links:
        pytest.skip("sqlite3.pc is not linked into the image's pkg-config path (sqlite3's manifest names no "
                    "prefix besides %s; upstream links it on some policies only)" % data["prefix"])
    [link_dir] = links
    return data, link_dir


def test_sqlite3_pc_is_in_the_images_pkg_config_path_where_upstream_links_it(container, image_env):
    data, link_dir = sqlite_pc_link(container)
    assert link_dir in image_env["PKG_CONFIG_PATH"].split(":"), (link_dir, image_env["PKG_CONFIG_PATH"])
    assert run(container, "readlink -f %s/sqlite3.pc" % link_dir).stdout.strip() == \
        run(container, "readlink -f %s/lib/pkgconfig/sqlite3.pc" % data["prefix"]).stdout.strip()
    out = container.run("env PKG_CONFIG_PATH=%s pkg-config --modversion sqlite3" % image_env["PKG_CONFIG_PATH"])
    assert out.rc == 0 and out.stdout.strip() == data["version"], out.stderr


def test_autoreconf_finds_libtools_macros_without_a_macro_directory(container):
    """Upstream's autotools check: autoreconf of a project that names no macro directory, so aclocal
    itself must find LT_INIT (libtool's macros in /usr/local, automake's dirlist)."""
    libtool = manifest(container, "libtool")
    script = r"""set -e
d=$(mktemp -d); cd $d
printf 'AC_INIT([t],[1.0.0])\nAM_INIT_AUTOMAKE([foreign])\nLT_PREREQ([%s])\nLT_INIT\nAC_CONFIG_FILES([Makefile])\nAC_OUTPUT\n' > configure.ac
printf 'lib_LTLIBRARIES = libt.la\nlibt_la_SOURCES = t.c\n' > Makefile.am
printf 'int t(void){return 1;}\n' > t.c
autoreconf -if 2>&1
./configure -q
make -s >/dev/null 2>&1
ls .libs/libt.so*
cd /; rm -rf $d
""" % libtool["version"]
    assert ".libs/libt.so" in run(container, script).stdout


def test_cxx_with_assertions_links_with_as_needed(container):
    """pypa/manylinux#1760: -D_GLIBCXX_ASSERTIONS with -Wl,--as-needed links (the toolset's libstdc++.so
    linker script is fixed where upstream fixes it; elsewhere the base's links as it is)."""
    source = ("#include <array>\n#include <cstdio>\nint main() {\n"
              "  std::array<int, 3> a = {1, 2, 3};\n  printf(\"repro %d\\n\", a[0]);\n  return 0;\n}")
    assert build_and_run(container, source, "-D_GLIBCXX_ASSERTIONS -fPIC -Wl,--as-needed", lang="c++") == "repro 1\n"


def test_translations_man_pages_and_backgrounds_are_pruned_as_upstream(container):
    """update-system-packages.sh at finalize: locale directories keep only en* and locale.alias,
    /usr/local/share/man is empty (the directory stays, pypa/manylinux#1060), no backgrounds."""
    for directory in PRUNED_LOCALE_DIRS:
        if container.file(directory).is_directory:
            entries = container.run("ls -A %s" % directory).stdout.split()
            assert all(e.startswith(PRUNED_LOCALE_KEEP) for e in entries), (directory, entries)
    for directory in EMPTIED_DIRS:
        if container.file(directory).is_directory:
            assert container.run("ls -A %s" % directory).stdout.split() == [], directory
    for path in PRUNED_PATHS:
        assert not container.file(path).exists, path


CMAKE_SQLITE = r"""cmake_minimum_required(VERSION 3.16)
project(find_sqlite3 C)
find_package(SQLite3 3.50 REQUIRED)
add_executable(version version.c)
target_compile_definitions(version PRIVATE EXPECTED="${SQLite3_VERSION}")
target_link_libraries(version SQLite::SQLite3)
"""
CMAKE_SQLITE_MAIN = r"""#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
int main(void) { printf("%s %s\n", EXPECTED, sqlite3_libversion()); return strcmp(EXPECTED, sqlite3_libversion()) != 0; }
"""


def test_cmake_find_package_sqlite3_builds_and_runs(container):
    """upstream's ctest (run where it links sqlite3.pc): find_package(SQLite3 3.50) with the image's own
    environment finds the private SQLite, and what links it runs without LD_LIBRARY_PATH."""
    data, _ = sqlite_pc_link(container)
    script = """set -e
d=$(mktemp -d); cd $d
cat > CMakeLists.txt <<'EOF_CMAKE'
{cmake}
EOF_CMAKE
cat > version.c <<'EOF_C'
{main}
EOF_C
cmake -S . -B build >/dev/null
cmake --build build >/dev/null
./build/version
cd /; rm -rf $d
""".format(cmake=CMAKE_SQLITE, main=CMAKE_SQLITE_MAIN)
    found, linked = run(container, script).stdout.split()
    assert found == linked, (found, linked)
    assert version_tuple(linked) == version_tuple(data["version"]), linked


CLANG_FROM_A_LOCAL_SERVER = r"""set -e
python=$(ls /opt/python/*/bin/python | head -1)
cd /tmp && mkdir -p release/v0.0.1 tree/clang/bin
printf '#!/bin/sh\necho "clang version 0.0.1 (local test release)"\n' > tree/clang/bin/clang
chmod 755 tree/clang/bin/clang
tar -C tree -cJf release/v0.0.1/static-clang-linux-{goarch}.tar.xz clang
(cd release/v0.0.1 && sha256sum static-clang-linux-{goarch}.tar.xz > sha256sums.txt)
cd release && "$python" -m http.server --bind 127.0.0.1 8720 >/dev/null 2>&1 &
for _ in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:8720/ 2>/dev/null && break; sleep 0.2; done
sums=$(sha256sum /tmp/release/v0.0.1/sha256sums.txt | cut -c1-64)
MANYLINUX_CLANG_BASE_URL=http://127.0.0.1:8720 manylinux-install-clang -v 0.0.1 -c "$sums"
command -v clang
clang --version
ls /opt/clang/bin
"""


def test_manylinux_install_clang_as_upstreams(run_in_image, container, image_env, arch):
    """upstream's run_tests.sh: known versions listed, a bad version, sha256 or arch refused; an install
    (here a release served on 127.0.0.1, its sha256sums.txt pinned with -c) lands first on PATH."""
    if not container.exists("manylinux-install-clang"):
        pytest.skip("manylinux-install-clang was switched off for this build")
    assert image_env["PATH"].split(":")[0] == "/opt/clang/bin"
    assert "v21.1.8.1" in run(container, "manylinux-install-clang -l").stdout.split()
    for args in ("-v 18.0", "-v 21.1.8.1 -c bad_sha", "-v 21.1.8.1 -m bad_arch"):
        result = container.run("manylinux-install-clang %s" % args)
        assert result.rc != 0 and "manylinux-install-clang: " in result.stderr, (args, result.stderr)
    if not container.run("ls /opt/python/*/bin/python").stdout.split():
        pytest.skip("no Python in the image to serve the test release")
    goarch = {"x86_64": "amd64", "i686": "386", "aarch64": "arm64", "armv7l": "arm"}.get(arch, arch)
    out = run_in_image.run(CLANG_FROM_A_LOCAL_SERVER.format(goarch=goarch)).stdout.splitlines()
    assert "/opt/clang/bin/clang" in out, out
    assert "clang version 0.0.1 (local test release)" in out, out
    assert {"clang.cfg", "clang++.cfg", "clang-cpp.cfg"} <= set(out), out
