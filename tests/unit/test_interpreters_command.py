"""manylinux-interpreters (role interpreters' command), against a data file like the role writes."""

import functools
import hashlib
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading

import jinja2
import manylinux_sbom as sbom
import pytest
from conftest import ROOT
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

TEMPLATES = os.path.join(ROOT, "roles", "interpreters", "templates")
spec = importlib.util.spec_from_file_location("manylinux_interpreters",
                                              os.path.join(TEMPLATES, "manylinux_interpreters.py"))
command = importlib.util.module_from_spec(spec)
spec.loader.exec_module(command)


ARCHIVE_PYTHON = "pypy3.11"


def make_archive(tmp_path, name="pypy-test", python_target=None):
    """A .tar.bz2 like PyPy's: one top directory, bin/<python> (here a link to this Python), a .debug file."""
    top = tmp_path / "src" / name
    (top / "bin").mkdir(parents=True)
    (top / "bin" / ARCHIVE_PYTHON).symlink_to(python_target or sys.executable)
    (top / "bin" / "python3").symlink_to(ARCHIVE_PYTHON)
    (top / "bin" / "libpypy.so.debug").write_text("debug")
    (top / "LICENSE").write_text("license")
    archive = tmp_path / (name + ".tar.bz2")
    with tarfile.open(archive, "w:bz2") as tar:
        tar.add(top, arcname=name)
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An HTTP server on 127.0.0.1 serving a directory."""
    root = tmp_path_factory.mktemp("served")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()


@pytest.fixture
def image(tmp_path, server):
    """Directories like the image's, a data file like the role writes: two CPythons built (the first one
    installed), a downloadable PyPy served by the local server with its own pin."""
    served, url = server
    archive, sha256 = make_archive(tmp_path)
    name = "pypy-%s.tar.bz2" % tmp_path.name
    shutil.copy(archive, served / name)
    dirs = {key: tmp_path / key for key in ("python", "internal", "bin", "manifests")}
    for path in dirs.values():
        path.mkdir()
    records = []
    for identifier, version, variant in (("cp313-cp313", "3.13.14", "default"),
                                         ("cp314-cp314t", "3.14.6", "freethreading")):
        records.append({"identifier": identifier, "implementation": "cpython", "version": version,
                        "variant": variant, "install_path": str(dirs["python"] / identifier)})
    prefix = dirs["internal"] / "cpython-3.13.14"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python").symlink_to(sys.executable)
    (dirs["python"] / "cp313-cp313").symlink_to(prefix)
    data = {"interpreters": records, "link_dir": str(dirs["python"]), "prefix_root": str(dirs["internal"]),
            "wrapper_dir": str(dirs["bin"]), "manifest_dir": str(dirs["manifests"]),
            "downloadable": {"pp311-pypy311_pp73": {
                "implementation": "pypy", "python_version": "3.11", "implementation_version": "7.3.23",
                "url": "%s/%s" % (url, name), "sha256": sha256, "requirements": None}}}
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    return dict(dirs, data=str(path), served=served / name, sha256=sha256, url="%s/%s" % (url, name))


def run(data, *args):
    proc = subprocess.run([sys.executable, os.path.join(TEMPLATES, "manylinux_interpreters.py"), "--data", data,
                           *args], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def rewrite(image, **changes):
    data = json.loads(open(image["data"]).read())
    data["downloadable"]["pp311-pypy311_pp73"].update(changes)
    open(image["data"], "w").write(json.dumps(data))


def test_list_names_the_built_and_the_downloadable_in_upstreams_order(image):
    assert run(image["data"], "list") == (0, "cp313-cp313\ncp314-cp314t\npp311-pypy311_pp73\n", "")


def test_list_installed_only_those_on_disk(image):
    assert run(image["data"], "list", "--installed") == (0, "cp313-cp313\n", "")


def test_list_json_has_upstreams_keys(image):
    rc, out, _ = run(image["data"], "list", "--format", "json")
    assert rc == 0
    items = json.loads(out)
    assert [i["identifier"] for i in items] == ["cp313-cp313", "cp314-cp314t", "pp311-pypy311_pp73"]
    assert all(set(i) == {"identifier", "installed", "python_version", "implementation",
                          "implementation_version", "install_path"} for i in items)
    installed = items[0]
    # an installed interpreter answers for itself
    here = "%d.%d.%d" % sys.version_info[:3]
    assert (installed["installed"], installed["python_version"], installed["implementation"]) == (True, here, "cpython")
    assert items[2] == {"identifier": "pp311-pypy311_pp73", "installed": False, "python_version": "3.11",
                        "implementation": "pypy", "implementation_version": "7.3.23",
                        "install_path": str(image["python"] / "pp311-pypy311_pp73")}


def test_list_verbose(image):
    rc, out, _ = run(image["data"], "list", "-v")
    assert rc == 0 and "pp311-pypy311_pp73:\n  installed:              no\n" in out


def test_ensure_downloads_checks_unpacks_links_and_wraps(image):
    rc, out, err = run(image["data"], "ensure", "pp311-pypy311_pp73")
    assert rc == 0, err
    prefix = image["internal"] / "pp311-pypy311_pp73"
    link = image["python"] / "pp311-pypy311_pp73"
    assert os.readlink(link) == str(prefix)
    assert (prefix / "LICENSE").read_text() == "license"            # the top directory stripped
    assert not (prefix / "bin" / "libpypy.so.debug").exists()       # debug files removed
    assert os.readlink(prefix / "bin" / "python") == "python3"      # bin/python made
    wrapper = image["bin"] / "pypy3.11"
    assert os.access(wrapper, os.X_OK)
    proc = subprocess.run([str(wrapper), "-c", "import sys; print(sys.version_info[0])"], capture_output=True, text=True)
    assert proc.stdout == "3\n"
    assert run(image["data"], "list", "--installed")[1] == "cp313-cp313\npp311-pypy311_pp73\n"
    # recorded as the components built with the image are: its download and pin as its source
    record = json.loads((image["manifests"] / "pp311-pypy311_pp73.json").read_text())
    assert record == {
        "name": "pp311-pypy311_pp73", "version": "7.3.23", "key": image["sha256"], "prefix": str(prefix),
        "prefixes": [str(prefix), str(link), str(wrapper)], "needs": [],
        "sources": [{"key": "pp311-pypy311_pp73", "name": "pypy", "version": "7.3.23",
                     "file": image["served"].name, "url": image["url"], "sha256": image["sha256"]}],
        "details": {"python": str(prefix / "bin" / "python"), "python_version": "3.11",
                    "installed_by": "manylinux-interpreters ensure"}}
    assert sorted(p.name for p in image["manifests"].iterdir()) == ["pp311-pypy311_pp73.json"]
    # nothing of the download is left beside it
    assert sorted(p.name for p in image["internal"].iterdir()) == ["cpython-3.13.14", "pp311-pypy311_pp73"]
    # a second ensure changes nothing
    rc, out, _ = run(image["data"], "ensure", "pp311-pypy311_pp73")
    assert rc == 0 and "already installed" in out


def test_a_bad_download_leaves_nothing(image):
    rewrite(image, sha256="0" * 64)
    rc, _, err = run(image["data"], "ensure", "pp311-pypy311_pp73")
    assert rc == 1 and "expected %s" % ("0" * 64) in err and image["sha256"] in err
    assert sorted(p.name for p in image["internal"].iterdir()) == ["cpython-3.13.14"]
    assert not list(image["bin"].iterdir()) and sorted(p.name for p in image["python"].iterdir()) == ["cp313-cp313"]


def test_an_unreachable_url_is_a_clear_error(image):
    rewrite(image, url="http://127.0.0.1:9/absent.tar.bz2")
    rc, _, err = run(image["data"], "ensure", "pp311-pypy311_pp73")
    assert rc == 1 and "cannot download http://127.0.0.1:9/absent.tar.bz2" in err
    assert sorted(p.name for p in image["internal"].iterdir()) == ["cpython-3.13.14"]


def test_a_failed_pip_step_leaves_nothing(image, tmp_path, server):
    """The archive's python fails `-m ensurepip` (and touches nothing of this machine's Pythons)."""
    fake = tmp_path / "fake-python"
    fake.write_text('#!/bin/sh\n[ "$1" = -m ] && exit 3\nexec %s "$@"\n' % sys.executable)
    fake.chmod(0o755)
    (tmp_path / "other").mkdir()
    archive, sha256 = make_archive(tmp_path / "other", python_target=fake)
    shutil.copy(archive, image["served"])
    rewrite(image, requirements=str(tmp_path / "requirements.txt"), sha256=sha256)
    rc, _, err = run(image["data"], "ensure", "pp311-pypy311_pp73")
    assert rc == 1 and "installing pp311-pypy311_pp73 failed" in err
    assert sorted(p.name for p in image["internal"].iterdir()) == ["cpython-3.13.14"]
    assert sorted(p.name for p in image["python"].iterdir()) == ["cp313-cp313"]
    assert not list(image["manifests"].iterdir()) and not list(image["bin"].iterdir())


def test_a_manifest_that_cannot_be_written_leaves_nothing(image):
    data = json.loads(open(image["data"]).read())
    blocked = image["internal"] / "not-a-directory"
    blocked.write_text("")
    data["manifest_dir"] = str(blocked)
    open(image["data"], "w").write(json.dumps(data))
    rc, _, err = run(image["data"], "ensure", "pp311-pypy311_pp73")
    assert rc == 1 and "manylinux-interpreters: installing pp311-pypy311_pp73 failed: " in err
    assert "not-a-directory" in err and "Traceback" not in err
    assert sorted(p.name for p in image["internal"].iterdir()) == ["cpython-3.13.14", "not-a-directory"]
    assert sorted(p.name for p in image["python"].iterdir()) == ["cp313-cp313"] and not list(image["bin"].iterdir())


def test_ensure_names_unknown_tags_and_the_choices_before_any_work(image):
    rc, _, err = run(image["data"], "ensure", "pp311-pypy311_pp73", "pp399-nothing")
    assert rc == 2 and "unknown interpreter(s) pp399-nothing; choose from: cp313-cp313, cp314-cp314t, " in err
    assert sorted(p.name for p in image["internal"].iterdir()) == ["cpython-3.13.14"]


def test_a_built_interpreter_cannot_be_installed_again(image):
    rc, _, err = run(image["data"], "ensure", "cp314-cp314t")
    assert rc == 1 and "cp314-cp314t is not installed and cannot be: it is built with the image" in err
    assert run(image["data"], "ensure-all")[0] == 1


def test_missing_data_file_is_a_clear_error(tmp_path):
    rc, _, err = run(str(tmp_path / "absent.json"), "list")
    assert rc == 2 and "cannot read" in err


def test_no_command_is_a_usage_error(image):
    rc, _, err = run(image["data"])
    assert rc == 2 and "usage" in err


def test_template_renders_a_runnable_script(tmp_path, image):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), keep_trailing_newline=True)
    env.filters["to_json"] = json.dumps
    text = env.get_template("manylinux-interpreters.j2").render(
        interpreters_command_python=sys.executable, interpreters_command_data=image["data"], ansible_managed="managed")
    assert text.startswith("#!%s\n" % sys.executable)
    script = tmp_path / "manylinux-interpreters"
    script.write_text(text)
    script.chmod(0o755)
    proc = subprocess.run([str(script), "list", "--installed"], capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (0, "cp313-cp313\n"), proc.stderr


@pytest.mark.skipif(not (shutil.which("cc") and shutil.which("ar") and shutil.which("strip")),
                    reason="needs cc, ar and strip")
def test_static_libpython_parts_join_into_one_archive(tmp_path):
    """Each interpreter's part is a tar without its end blocks in one xz stream; the join is one .tar.xz."""
    import subprocess
    script = os.path.join(ROOT, "roles", "interpreters", "files", "static-libpython.sh")
    root = tmp_path / "internal"
    contents = {}
    for prefix, functions in (("cpython-3.9.2", 3), ("cpython-3.14.6-nogil", 300)):
        lib = root / prefix / "lib"
        lib.mkdir(parents=True)
        source = tmp_path / (prefix + ".c")
        source.write_text("".join("int f%d(int x) { return x * %d; }\n" % (n, n) for n in range(functions)))
        subprocess.run(["cc", "-g", "-c", "-o", str(tmp_path / (prefix + ".o")), str(source)], check=True)
        archive_name = "libpython%s.a" % prefix.split("-")[1][:4]
        subprocess.run(["ar", "rcs", str(lib / archive_name), str(tmp_path / (prefix + ".o"))], check=True)
        subprocess.run(["sh", script, "part", str(tmp_path / "parts" / (prefix + ".tar.xz")), str(root), prefix],
                       check=True)
        # the part holds the archive without its debug info
        assert b".debug_info" not in (lib / archive_name).read_bytes()
        contents["%s/lib/%s" % (prefix, archive_name)] = (lib / archive_name).read_bytes()
    archive = tmp_path / "static-libs-for-embedding-only.tar.xz"
    subprocess.run(["sh", script, "join", str(archive)] + sorted(str(p) for p in (tmp_path / "parts").iterdir()),
                   check=True)
    listing = subprocess.run(["tar", "-tJf", str(archive)], check=True, capture_output=True, text=True).stdout.split()
    assert sorted(listing) == sorted(contents)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-C", str(out), "-xJf", str(archive)], check=True)
    for name, data in contents.items():
        assert (out / name).read_bytes() == data
    # a prefix without a static libpython is an error, not an empty part
    (root / "cpython-3.13.1" / "lib").mkdir(parents=True)
    proc = subprocess.run(["sh", script, "part", str(tmp_path / "x.tar.xz"), str(root), "cpython-3.13.1"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "no static libpython" in proc.stderr


def test_what_ensure_records_validates_in_the_images_sbom(image, tmp_path):
    """The manifest ensure writes is read as the components' are: the SBOM names the download and its pin."""
    assert run(image["data"], "ensure", "pp311-pypy311_pp73")[0] == 0
    records = [json.loads(p.read_text()) for p in image["manifests"].iterdir()]
    bom, counts, _ = sbom.build({"name": "img"}, records, [], "", "", "")
    dest = tmp_path / "sbom.cdx.json"
    sbom.write(bom, str(dest))
    text = dest.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    [component] = json.loads(text)["components"]
    assert (component["name"], component["version"]) == ("pp311-pypy311_pp73", "7.3.23")
    assert component["hashes"] == [{"alg": "SHA-256", "content": image["sha256"]}]
    assert component["externalReferences"][0]["url"] == image["url"] and counts["source"] == 1


def test_a_link_in_the_way_is_kept_and_nothing_else_is_left(image):
    """A dangling /opt/python/<tag> that is not this command's: ensure fails at the link and removes only its own."""
    foreign = image["python"] / "pp311-pypy311_pp73"
    foreign.symlink_to("/nonexistent/pypy")
    rc, _, err = run(image["data"], "ensure", "pp311-pypy311_pp73")
    assert rc == 1 and "installing pp311-pypy311_pp73 failed: " in err
    assert os.readlink(foreign) == "/nonexistent/pypy"
    assert sorted(p.name for p in image["internal"].iterdir()) == ["cpython-3.13.14"]
    assert not list(image["manifests"].iterdir()) and not list(image["bin"].iterdir())


def test_what_ensure_records_is_the_manifest_schema_of_the_components():
    """docs/DESIGN.md, "Manifests": one schema. The engine's (component_build's pack task) is the
    reference; the in-image command cannot import it, so its keys are checked against it here."""
    import yaml
    with open(os.path.join(ROOT, "roles", "component_build", "tasks", "main.yml")) as handle:
        tasks = yaml.safe_load(handle)

    def find(node):
        if isinstance(node, dict):
            if "__component_build_manifest" in node:
                return node["__component_build_manifest"]
            node = list(node.values())
        if isinstance(node, list):
            for item in node:
                found = find(item)
                if found:
                    return found
        return None

    engine = find(tasks)
    assert engine, "component_build's manifest"
    entry = {"implementation": "pypy", "python_version": "3.11", "implementation_version": "7.3.23",
             "url": "https://example.invalid/pypy.tar.bz2", "sha256": "0" * 64}
    recorded = command.manifest("pp311-pypy311_pp73", entry, "/opt/_internal/pp311", "/opt/python/pp311",
                                "/usr/local/bin/pypy3.11")
    assert sorted(recorded) == sorted(engine)
    assert sorted(recorded["sources"][0]) == ["file", "key", "name", "sha256", "url", "version"]
