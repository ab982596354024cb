"""The /opt/python interpreters (role interpreters) in the committed image.

The interpreters are those the image's manifests name (components
cpython-<version>[-nogil]), e.g. 3.9.2, 3.13.14, 3.14.6, 3.14.6t (a trailing
"t": a free-threading build, cp314-cp314t, /opt/_internal/cpython-3.14.6-nogil);
`manylinux-interpreters list --installed` and /opt/python are compared with
them. Those `manylinux-interpreters ensure` installed at build time are the
manifests it wrote (<tag>.json, details.installed_by, a download as source);
what it can download is the `downloadable` of its data file in the image. The
private OpenSSL is linked where an interpreter's manifest needs it.
MANYLINUX_INTERPRETERS (optional, comma separated) names the ones the image
must have.
"""

import json
import os
import re

import pytest
from conftest import (image_manifest, image_manifests, image_versions, import_failures, manifest_or_skip, pip_pins,
                      python_json, stdlib_import_failures, sysconfig_problems)

HERE = os.path.dirname(os.path.abspath(__file__))
SETUPTOOLS_REQUIREMENTS = os.path.join(HERE, "requirements-setuptools.txt")
STATIC_ARCHIVE = "/opt/_internal/static-libs-for-embedding-only.tar.xz"
OPENSSL_LIB = "/opt/_internal/openssl-3.5/lib"
MANIFESTS = "/opt/_internal/manifests"
COMMAND_DATA = "/opt/_internal/manylinux-interpreters.json"
ENSURED_BY = "manylinux-interpreters ensure"
MODULES = ("ssl", "hashlib", "sqlite3", "tkinter", "decimal", "_decimal", "ctypes", "curses", "dbm.gnu", "readline",
           "lzma", "bz2", "zlib", "uuid")
# Extension module -> (library, toolchain manifest naming its prefix): the
# interpreters link what role toolchain built, found through their rpath.
TOOLCHAIN_LINKS = {
    "_sqlite3": ("libsqlite3.so", "sqlite3"),
    "_decimal": ("libmpdec.so", "mpdecimal"),
    "_tkinter": ("libtcl8.6.so", "tcl"),
    "_zstd": ("libzstd.so", "zstd"),
}


class Interpreter:
    """One interpreter, as named in MANYLINUX_INTERPRETERS."""

    def __init__(self, spec):
        match = re.fullmatch(r"3\.(\d+)\.\d+(?:(?:a|b|rc)\d+)?(t?)", spec)
        if not match:
            pytest.fail("MANYLINUX_INTERPRETERS: %r is not a version such as 3.13.14 or 3.14.6t" % spec)
        self.free_threading = match.group(2) == "t"
        self.version = spec[:-1] if self.free_threading else spec
        self.minor = "3." + match.group(1)
        self.minor_tuple = (3, int(match.group(1)))
        abiflags = "t" if self.free_threading else ""
        tag = "cp3" + match.group(1)
        self.identifier = "%s-%s%s" % (tag, tag, abiflags)
        self.prefix = "/opt/_internal/cpython-%s%s" % (self.version, "-nogil" if self.free_threading else "")
        self.link = "/opt/python/" + self.identifier
        self.python_name = "python%s%s" % (self.minor, abiflags)
        self.python = "%s/bin/%s" % (self.link, self.python_name)
        self.wrappers = ["/usr/local/bin/" + self.python_name, "/usr/local/bin/c" + self.python_name]
        self.static_lib = "cpython-%s%s/lib/libpython%s%s.a" % (
            self.version, "-nogil" if self.free_threading else "", self.minor, abiflags)

    def __repr__(self):
        return self.identifier


INTERPRETER_COMPONENT = r"cpython-3\.\d+\.\d+(?:(?:a|b|rc)\d+)?(?P<nogil>-nogil)?"


def _specs():
    return image_versions(INTERPRETER_COMPONENT)


def _all():
    specs = _specs()
    if not specs:
        pytest.fail("the image names no interpreter in %s (components cpython-<version>)" % MANIFESTS)
    return [Interpreter(spec) for spec in specs]


def test_the_image_has_the_interpreters_asked_for():
    asked = [spec.strip() for spec in os.environ.get("MANYLINUX_INTERPRETERS", "").split(",") if spec.strip()]
    if not asked:
        pytest.skip("MANYLINUX_INTERPRETERS is not set: the image's manifests alone say which interpreters it has")
    assert _specs() == sorted(asked)


@pytest.fixture(scope="module", params=_specs() or [None], ids=lambda spec: spec or "unset")
def interp(request):
    if request.param is None:
        _all()
    return Interpreter(request.param)


def requirement_pins(interp):
    """{name: version} of the requirement file the interpreter's pip component installed (its manifest)."""
    return pip_pins(interp.prefix.rsplit("/", 1)[1], "interpreters")


# --- the set of interpreters -------------------------------------------------------


@pytest.fixture(scope="module")
def command_data(run_in_image):
    """What the image's manylinux-interpreters reads: the interpreters built, those it can download."""
    return json.loads(run_in_image.run("cat %s" % COMMAND_DATA).stdout)


def ensured():
    """{tag: manifest} of the interpreters `manylinux-interpreters ensure` installed at build time."""
    return {m["name"]: m for m in image_manifests() if m.get("details", {}).get("installed_by") == ENSURED_BY}


def test_the_command_knows_the_interpreters_of_the_manifests(command_data):
    records = sorted((r["identifier"], r["version"], r["install_path"]) for r in command_data["interpreters"])
    assert records == sorted((i.identifier, i.version, i.link) for i in _all())


def test_the_downloadable_interpreters_are_pinned(command_data, run_in_image, image_env):
    """Each download is a URL with its sha256 and the image's pip pins for it; musl has none (upstream's
    table names no PyPy or GraalPy build for it)."""
    downloadable = command_data["downloadable"]
    if image_env["AUDITWHEEL_POLICY"].startswith("musllinux"):
        assert downloadable == {}
        return
    for tag, entry in downloadable.items():
        assert entry["implementation"] in ("pypy", "graalpy"), (tag, entry)
        assert entry["url"].startswith("https://") and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"]), (tag, entry)
        assert entry["python_version"].replace(".", "") in tag.split("-")[0], (tag, entry)
    for requirements in sorted({entry["requirements"] for entry in downloadable.values() if entry["requirements"]}):
        text = run_in_image.run("cat %s" % requirements).stdout
        assert re.search(r"^pip==\S+", text, re.M) and "--hash=sha256:" in text, requirements


def test_the_interpreters_ensured_at_build_time_are_recorded_with_their_download(command_data, container):
    found = ensured()
    if not found:
        pytest.skip("the build ensured no downloadable interpreter (no manifest by %s in %s)" % (ENSURED_BY, MANIFESTS))
    for tag, manifest in found.items():
        entry = command_data["downloadable"].get(tag)
        assert entry is not None, "%s was ensured but is not downloadable here" % tag
        assert manifest["version"] == entry["implementation_version"], manifest
        assert [(s["url"], s["sha256"]) for s in manifest["sources"]] == [(entry["url"], entry["sha256"])], manifest
        link = container.file(command_data["link_dir"] + "/" + tag)
        assert link.is_symlink and link.linked_to == manifest["prefix"], tag
        version = container.check_output("%s/bin/python -c 'import platform; print(platform.python_version())'"
                                         % manifest["prefix"])
        assert version.startswith(entry["python_version"] + "."), (tag, version)


def test_manylinux_interpreters_lists_the_built_and_the_downloadable(run_in_image, command_data):
    built = {i.identifier for i in _all()}
    downloadable = set(command_data["downloadable"])
    ensured_here = set(ensured())
    assert ensured_here <= downloadable
    installed = run_in_image.run("manylinux-interpreters list --installed").stdout.split()
    assert sorted(installed) == sorted(built | ensured_here)
    listed = json.loads(run_in_image.run("manylinux-interpreters list --format json").stdout)
    assert sorted(item["identifier"] for item in listed) == sorted(built | downloadable)
    by_id = {item["identifier"]: item for item in listed}
    for i in _all():
        assert by_id[i.identifier] == {"identifier": i.identifier, "installed": True, "python_version": i.version,
                                       "implementation": "cpython", "implementation_version": i.version,
                                       "install_path": i.link}
    for tag in downloadable - ensured_here:
        item = by_id[tag]
        assert item["installed"] is False and item["implementation"] in ("pypy", "graalpy"), item
        assert item["install_path"] == "/opt/python/" + tag


def test_manylinux_interpreters_list_installed_follows_the_disk(run_in_image):
    runner = run_in_image.run("head -1 /usr/local/bin/manylinux-interpreters").stdout
    others = [i for i in _all() if i.link + "/" not in runner]
    if not others:
        pytest.skip("only the interpreter that runs manylinux-interpreters is installed")
    gone = others[0]
    proc = run_in_image.run("rm %s && manylinux-interpreters list --installed --format json && "
                            "manylinux-interpreters ensure %s" % (gone.link, gone.identifier), check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    remaining = json.loads(proc.stdout)
    assert sorted(item["identifier"] for item in remaining) == sorted(
        i.identifier for i in _all() if i.identifier != gone.identifier)
    assert "%s is not installed and cannot be" % gone.identifier in proc.stderr


def test_manylinux_interpreters_ensure_names_the_choices(run_in_image):
    run_in_image.run("manylinux-interpreters ensure %s" % " ".join(i.identifier for i in _all()))
    proc = run_in_image.run("manylinux-interpreters ensure cp27-cp27mu", check=False)
    assert proc.returncode == 2 and "unknown interpreter(s) cp27-cp27mu; choose from: " in proc.stderr


INSTALLED_MARK = "--- installed"
# A downloadable interpreter served on 127.0.0.1 in the container: a copy of one of the image's
# CPythons, packed as PyPy's archives are (one top directory), with its own pin.
ENSURE_FROM_A_LOCAL_SERVER = r"""set -e
cd /tmp
cp -a {prefix} test-interpreter
tar -cjf test.tar.bz2 test-interpreter
rm -rf test-interpreter
sha=$(sha256sum test.tar.bz2 | cut -d' ' -f1)
{python} -m http.server --bind 127.0.0.1 8719 >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do {python} -c 'import socket; socket.create_connection(("127.0.0.1", 8719))' 2>/dev/null && break; sleep 0.2; done
{python} - "$sha" {tag} <<'EOF_PY'
import json, sys
sha, tag = sys.argv[1], sys.argv[2]
data = json.load(open("/opt/_internal/manylinux-interpreters.json"))
data["downloadable"] = {{tag: {{"implementation": "testpy", "python_version": "{minor}", "implementation_version": "0.1",
                              "url": "http://127.0.0.1:8719/test.tar.bz2", "sha256": sha,
                              "requirements": "{requirements}"}}}}
json.dump(data, open("/tmp/data.json", "w"))
EOF_PY
export MANYLINUX_INTERPRETERS_DATA=/tmp/data.json
manylinux-interpreters list --format json > /tmp/before.json
manylinux-interpreters ensure {tag}
manylinux-interpreters ensure {tag}
kill $server
testpy{minor} -c 'import os, pip, sys; print(os.path.realpath(sys.prefix), pip.__version__)'
echo {mark}
manylinux-interpreters list --installed
cat /opt/_internal/manifests/{tag}.json
"""


def test_manylinux_interpreters_ensure_downloads_from_a_local_server(run_in_image, command_data):
    """ensure against an HTTP server on 127.0.0.1: pinned download, unpacked, pip from the image's pins
    (--require-hashes, from the index: network), linked, wrapped, recorded in the image's manifests (so the
    labels and SBOM of a build that ensures one name its download); a second ensure changes nothing."""
    pins = sorted({entry["requirements"] for entry in command_data["downloadable"].values() if entry["requirements"]})
    if not pins:
        pytest.skip("the image's manylinux-interpreters can download nothing (%s), so it holds no pins for a "
                    "download" % COMMAND_DATA)
    source = next((i for i in _all() if not i.free_threading and i.minor_tuple >= (3, 11)), None)
    if source is None:
        pytest.skip("no interpreter with the GIL of 3.11 or later to serve as the download")
    # the pins of a download are those of the interpreters of its Python version: the source's own
    name = image_manifest(source.prefix.rsplit("/", 1)[1] + "-pip")["details"]["requirements"]
    requirements = [path for path in pins if os.path.basename(path) == name]
    if not requirements:
        pytest.skip("the image holds no pins for a download of Python %s (%s)" % (source.minor, ", ".join(pins)))
    tag = "tp%s-test" % source.minor.replace(".", "")
    script = ENSURE_FROM_A_LOCAL_SERVER.format(prefix=source.prefix, python=source.python, tag=tag, minor=source.minor,
                                               requirements=requirements[0], mark=INSTALLED_MARK)
    proc = run_in_image.run(script, ca=True)
    lines = proc.stdout.splitlines()
    assert "installing '%s' at '/opt/python/%s'" % (tag, tag) in lines, proc.stdout
    assert "'%s' already installed at '/opt/python/%s'" % (tag, tag) in lines, proc.stdout
    record = json.loads(lines.pop())
    listed = lines[lines.index(INSTALLED_MARK) + 1:]
    prefix, pip_version = lines[lines.index(INSTALLED_MARK) - 1].split()
    assert prefix == "/opt/_internal/" + tag
    assert pip_version == requirement_pins(source)["pip"]
    assert sorted(listed) == sorted({i.identifier for i in _all()} | set(ensured()) | {tag})
    assert (record["name"], record["version"], record["prefix"]) == (tag, "0.1", prefix), record
    [download] = record["sources"]
    assert download["url"] == "http://127.0.0.1:8719/test.tar.bz2" and download["sha256"] == record["key"], record
    assert re.fullmatch(r"[0-9a-f]{64}", download["sha256"]), record


def test_opt_python_holds_exactly_the_list(container):
    entries = sorted(container.check_output("ls -1 /opt/python").split())
    assert entries == sorted(i.identifier for i in _all())


def test_static_libpythons_are_packed(run_in_image):
    manifest_or_skip("static-libpython", "the build packed no archive of the static libpythons")
    members = run_in_image.run("tar -tJf %s" % STATIC_ARCHIVE).stdout.split()
    assert sorted(members) == sorted(i.static_lib for i in _all())
    left = run_in_image.run("find /opt/_internal /opt/python/ -name 'libpython*.a'").stdout.split()
    assert left == []
    # and they unpack where they came from, usable for a static link
    archive = run_in_image.run("cd /opt/_internal && tar -xJf %s && ls -l %s"
                               % (STATIC_ARCHIVE, " ".join(i.static_lib for i in _all()))).stdout
    assert archive.count("libpython") == len(_all())


# --- each interpreter ---------------------------------------------------------------


def test_link_and_prefix(container, interp):
    link = container.file(interp.link)
    assert link.is_symlink and link.linked_to == interp.prefix
    python = container.file(interp.prefix + "/bin/python")
    assert python.is_symlink and python.linked_to == interp.prefix + "/bin/" + interp.python_name
    assert container.file(interp.prefix + "/bin/pip").linked_to == interp.prefix + "/bin/pip3"


def test_wrappers_run_the_interpreter(run_in_image, container, interp):
    own = run_in_image.run("%s -VV" % interp.python).stdout
    assert own.startswith("Python %s " % interp.version), own
    assert ("free-threading build" in own) == interp.free_threading, own
    for wrapper in interp.wrappers:
        script = container.file(wrapper)
        assert script.is_file and not script.is_symlink and script.mode & 0o111 == 0o111
        assert run_in_image.run("%s -VV" % os.path.basename(wrapper)).stdout == own
    executable = run_in_image.run("%s -c 'import sys; print(sys.executable)'" % interp.wrappers[0]).stdout.strip()
    assert executable == interp.python


def links_private_openssl(interp):
    """Whether the interpreter was built on the private OpenSSL: its manifest needs the component
    installed at /opt/_internal/openssl-3.5 (as upstream, where the policy's base OpenSSL is too old)."""
    manifest = image_manifest(interp.prefix.rsplit("/", 1)[1])
    assert manifest is not None, "no manifest of %s in the image" % interp.prefix
    prefixes = {m["name"]: m["prefix"] for m in image_manifests()}
    return any(prefixes.get(need) == OPENSSL_LIB.rsplit("/", 1)[0] for need in manifest["needs"])


def test_static_build_with_hardening(run_in_image, interp):
    enable_shared, config_args, gil_disabled, cflags_nodist, ldflags_nodist = python_json(
        run_in_image, interp.python, "import json, sysconfig; print(json.dumps("
        "[sysconfig.get_config_var(n) for n in ('Py_ENABLE_SHARED', 'CONFIG_ARGS', 'Py_GIL_DISABLED',"
        " 'CONFIGURE_CFLAGS_NODIST', 'CONFIGURE_LDFLAGS_NODIST')]))")
    assert enable_shared == 0
    assert ("--with-openssl=/opt/_internal/openssl-3.5" in config_args) == links_private_openssl(interp)
    # hardening for the interpreter and the standard library only, as upstream's
    assert "-fstack-protector-strong" in cflags_nodist and "-Wl,-z,now" in ldflags_nodist
    assert bool(gil_disabled) == interp.free_threading
    assert run_in_image.run("ldd %s | grep -c libpython || true" % interp.python).stdout.strip() == "0"


def test_sysconfig_gives_extensions_upstreams_compilers_and_no_private_paths(run_in_image, interp, policy):
    assert sysconfig_problems(run_in_image, interp.python, policy) == []


def test_the_whole_standard_library_imports(run_in_image, interp):
    if interp.minor_tuple < (3, 10):
        pytest.skip("sys.stdlib_module_names is 3.10+: 3.9 is checked by the module list of test_stdlib_modules_import")
    assert stdlib_import_failures(run_in_image, interp.python) == {}


def test_stdlib_modules_import(run_in_image, interp):
    modules = MODULES + (("compression.zstd",) if interp.minor_tuple >= (3, 14) else ())
    assert import_failures(run_in_image, interp.python, modules) == {}


def test_sqlite_has_fts5(run_in_image, interp):
    rows = python_json(run_in_image, interp.python, """
import json, sqlite3
db = sqlite3.connect(":memory:")
db.execute("CREATE VIRTUAL TABLE notes USING fts5(body)")
db.executemany("INSERT INTO notes VALUES (?)", [("manylinux wheels",), ("shared cpython",)])
print(json.dumps([sqlite3.sqlite_version] + [r[0] for r in db.execute("SELECT body FROM notes WHERE notes MATCH 'wheels'")]))
""")
    assert rows[1:] == ["manylinux wheels"]
    assert tuple(int(x) for x in rows[0].split(".")) >= (3, 50), rows[0]


def test_ssl_links_the_openssl_upstream_links_for_the_policy(run_in_image, interp):
    """The private OpenSSL 3.5 where the interpreter's manifest needs it (manylinux2014, as upstream's),
    else the base's."""
    private = links_private_openssl(interp)
    version, ssl_file, hashlib_file = python_json(
        run_in_image, interp.python,
        "import json, ssl, _ssl, _hashlib; print(json.dumps([ssl.OPENSSL_VERSION, _ssl.__file__, _hashlib.__file__]))")
    for extension in (ssl_file, hashlib_file):
        out = run_in_image.run("env -u LD_LIBRARY_PATH ldd %s" % extension).stdout
        if private:
            assert version.startswith("OpenSSL 3.5"), version
            assert re.search(r"^\s*libcrypto\.so\.3 => %s/libcrypto\.so\.3 " % re.escape(OPENSSL_LIB), out, re.M), out
        else:
            assert "/opt/_internal/" not in out, out
            assert re.search(r"^\s*libcrypto\.so\.\S+ => /(usr/)?lib\S*/libcrypto\.so", out, re.M), out
    if not private:
        system = run_in_image.run("openssl version").stdout.split()[:2]
        assert version.split()[:2] == system, (version, system)


def test_extensions_link_the_toolchain_libraries(run_in_image, interp):
    prefixes, files = python_json(run_in_image, interp.python, """
import glob, importlib, json
prefixes = {}
for path in glob.glob(%r + "/*.json"):
    with open(path) as handle:
        manifest = json.load(handle)
    prefixes[manifest.get("name")] = manifest.get("prefix")
files = {}
for name in %r:
    try:
        files[name] = importlib.import_module(name).__file__
    except ImportError:
        pass
print(json.dumps([prefixes, files]))
""" % (MANIFESTS, sorted(TOOLCHAIN_LINKS)))
    checked = 0
    for module, (library, component) in TOOLCHAIN_LINKS.items():
        if component not in prefixes:
            continue
        if module == "_zstd" and interp.minor_tuple < (3, 14):
            continue   # no compression.zstd before 3.14
        if module == "_decimal" and interp.minor_tuple < (3, 13):
            continue   # bundled libmpdec (toolchain_python_mpdecimal_options)
        assert module in files, "%s is missing although %s was built" % (module, component)
        out = run_in_image.run("env -u LD_LIBRARY_PATH ldd %s" % files[module]).stdout
        assert re.search(r"^\s*%s\S* => %s/lib/" % (re.escape(library), re.escape(prefixes[component])), out,
                         re.M), "%s does not link %s of %s:\n%s" % (module, library, prefixes[component], out)
        checked += 1
    assert checked >= 2   # sqlite3 and tcl at least


def test_pinned_tools_only(run_in_image, interp):
    # pip, build, packaging, pyproject-hooks (and what build needs on old Pythons), as upstream's
    expected = requirement_pins(interp)
    assert {"pip", "build", "packaging", "pyproject-hooks"} <= set(expected)
    installed = python_json(run_in_image, interp.python, "import json, importlib.metadata as m; "
                                                         "print(json.dumps({d.metadata['Name'].lower().replace('_', '-'):"
                                                         " d.version for d in m.distributions()}))")
    assert installed == expected
    out = run_in_image.run("%s/bin/pip --version" % interp.link).stdout
    assert out.startswith("pip %s from " % expected["pip"]), out
    out = run_in_image.run("%s -m build --version" % interp.python).stdout
    assert out.startswith("build %s " % expected["build"]), out


def test_stripped_and_no_bytecode(run_in_image, interp):
    sections = run_in_image.run("readelf -S --wide %s" % interp.python).stdout
    assert ".symtab" not in sections and ".debug_info" not in sections
    assert run_in_image.run("find %s -name '*.pyc' | head -3" % interp.prefix).stdout.split() == []


EXTENSION = r'''
#include <Python.h>
int greet_answer(void);
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(greet_answer()); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "greet", NULL, -1, methods};
PyMODINIT_FUNC PyInit_greet(void) {
    PyObject *m = PyModule_Create(&module);
#ifdef Py_GIL_DISABLED
    if (m) PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED);
#endif
    return m;
}
'''

SETUP = '''
from setuptools import Extension, setup
setup(name="greet", version="1.0", ext_modules=[
    Extension("greet", ["greet.c"], libraries=["greet"], library_dirs=["/tmp/lib"])])
'''


def test_c_extension_wheel_repaired_for_the_policy(run_in_image, interp, policy, arch, tmp_path):
    """A C extension linking a library of its own: wheel, auditwheel repair, install, import."""
    (tmp_path / "greet.c").write_text(EXTENSION)
    (tmp_path / "setup.py").write_text(SETUP)
    script = """set -e
mkdir -p /tmp/lib /tmp/src
echo 'int greet_answer(void) { return 42; }' > /tmp/lib/greet.c
gcc -shared -fPIC -o /tmp/lib/libgreet.so /tmp/lib/greet.c
cp /in/greet.c /in/setup.py /tmp/src/
%(python)s -m venv /tmp/venv
/tmp/venv/bin/pip install --quiet --disable-pip-version-check --no-cache-dir --require-hashes -r /in/req.txt
cd /tmp/src
/tmp/venv/bin/pip wheel --quiet --disable-pip-version-check --no-build-isolation --no-deps -w /tmp/dist .
LD_LIBRARY_PATH=/tmp/lib auditwheel repair --plat "$AUDITWHEEL_PLAT" -w /tmp/wheelhouse /tmp/dist/*.whl >&2
rm -rf /tmp/lib
/tmp/venv/bin/pip install --quiet --disable-pip-version-check --no-index /tmp/wheelhouse/*.whl
cd /
/tmp/venv/bin/python -c 'import greet; print(greet.answer())'
for wheel in /tmp/wheelhouse/*.whl; do basename "$wheel"; done
/tmp/venv/bin/python -m zipfile -l /tmp/wheelhouse/*.whl | awk '{print $1}'
""" % {"python": interp.python}
    proc = run_in_image.run(script, ca=True, volumes=[
        "%s:/in/greet.c:ro" % (tmp_path / "greet.c"), "%s:/in/setup.py:ro" % (tmp_path / "setup.py"),
        "%s:/in/req.txt:ro" % SETUPTOOLS_REQUIREMENTS])
    lines = proc.stdout.split()
    assert lines[0] == "42"
    wheel = lines[1]
    name, version, python_tag, abi_tag, platforms = wheel[:-len(".whl")].split("-")
    assert "%s-%s" % (python_tag, abi_tag) == interp.identifier
    assert "%s_%s" % (policy, arch) in platforms.split("."), wheel
    # the library was grafted into the wheel
    assert any(re.match(r"greet\.libs/libgreet-[0-9a-f]+\.so", entry) for entry in lines[2:]), lines


# --- upstream's run_tests.sh: forty-two, and manylinux-check.py's heuristics ------------

FORTY_TWO_C = r'''
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *unused) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "forty_two", NULL, -1, methods};
PyMODINIT_FUNC PyInit_forty_two(void) { return PyModule_Create(&module); }
'''
FORTY_TWO_FILES = {
    "forty-two.c": FORTY_TWO_C,
    "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n',
    "setup.py": ('from setuptools import Extension, setup\nsetup(name="forty_two", version="0.1.0", '
                 'ext_modules=[Extension("forty_two", sources=["forty-two.c"])])\n'),
}


def test_forty_two_is_built_repaired_and_installed_with_pip_and_uv(run_in_image, interp, policy, arch, tmp_path):
    """`python -m build` (isolated: its setuptools comes from a hash-checked download, no index),
    `auditwheel repair --only-plat` to the policy, then installed and imported with pip and with uv."""
    for name, text in FORTY_TWO_FILES.items():
        (tmp_path / name).write_text(text)
    script = """set -e
cp -r /in /tmp/forty-two
%(python)s -m pip download --quiet --disable-pip-version-check --no-cache-dir --no-deps --require-hashes \
    -r /req.txt -d /tmp/wheels >&2
PIP_NO_INDEX=1 PIP_FIND_LINKS=/tmp/wheels %(python)s -m build --wheel --outdir /tmp/dist /tmp/forty-two >&2
ls /tmp/dist
auditwheel repair --only-plat -w /tmp/wheelhouse /tmp/dist/*.whl >&2
repaired=$(ls /tmp/wheelhouse/*.whl); basename "$repaired"
%(python)s -m pip install --quiet --disable-pip-version-check --no-index "$repaired"
cd / && %(python)s -c 'import forty_two; print(forty_two.answer())'
uv venv --quiet --python %(python)s /tmp/uv-venv
uv pip install --quiet --offline --python /tmp/uv-venv/bin/python "$repaired"
/tmp/uv-venv/bin/python -c 'import forty_two; print(forty_two.answer())'
""" % {"python": interp.python}
    proc = run_in_image.run(script, ca=True, volumes=["%s:/in:ro" % tmp_path, "%s:/req.txt:ro" % SETUPTOOLS_REQUIREMENTS])
    built, repaired, by_pip, by_uv = proc.stdout.split()[-4:]
    assert built == "forty_two-0.1.0-%s-linux_%s.whl" % (interp.identifier, arch), proc.stdout
    assert re.fullmatch(r"forty_two-0\.1\.0-%s-\S*%s_%s\S*\.whl" % (interp.identifier, policy, arch), repaired), repaired
    assert (by_pip, by_uv) == ("42", "42"), proc.stdout + proc.stderr


# The libc a policy promises: manylinux_X_Y -> glibc X.Y, manylinux2014 -> glibc 2.17 (PEP 599),
# musllinux_X_Y -> musl X.Y.
LEGACY_GLIBC = {"manylinux2014": (2, 17)}
MANYLINUX_HEURISTICS = r'''
import ctypes, json, sysconfig
try:
    from packaging import tags
    platforms = sorted({t.platform for t in tags.sys_tags()})
except ImportError:
    platforms = None
libc = ctypes.CDLL(None)
glibc = None
if hasattr(libc, "gnu_get_libc_version"):
    libc.gnu_get_libc_version.restype = ctypes.c_char_p
    glibc = libc.gnu_get_libc_version().decode()
print(json.dumps({"platform": sysconfig.get_platform(), "glibc": glibc, "platforms": platforms}))
'''


def test_manylinux_heuristics_say_the_policy_is_compatible(run_in_image, interp, policy, arch):
    """manylinux-check.py's reading (PEP 513/599/600): the C library the process is linked to is the
    policy's or newer (glibc on manylinux, none on musllinux), and packaging's tags, which pip
    installs wheels by, include the policy's."""
    found = python_json(run_in_image, interp.python, MANYLINUX_HEURISTICS)
    assert found["platform"] == "linux-%s" % arch, found
    family, _, version = policy.partition("_")
    if family == "musllinux":
        assert found["glibc"] is None, found
    else:
        wanted = LEGACY_GLIBC.get(policy) or tuple(int(part) for part in version.split("_"))
        assert found["glibc"] and tuple(int(p) for p in found["glibc"].split(".")[:2]) >= wanted, found
    if found["platforms"] is None:
        pytest.fail("packaging is not importable by %s (upstream's tools carry it)" % interp.python)
    tag = "%s_%s" % (policy, arch)
    assert tag in found["platforms"], (tag, found["platforms"])
