"""manylinux-interpreters (role interpreters' command), against a data file like the role writes."""

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys

import jinja2
import pytest
from conftest import ROOT

TEMPLATES = os.path.join(ROOT, "roles", "interpreters", "templates")
spec = importlib.util.spec_from_file_location("manylinux_interpreters",
                                              os.path.join(TEMPLATES, "manylinux_interpreters.py"))
command = importlib.util.module_from_spec(spec)
spec.loader.exec_module(command)


@pytest.fixture
def data(tmp_path):
    """Two interpreters; only the first has an executable bin/python."""
    records = []
    for identifier, version, variant in (("cp313-cp313", "3.13.14", "default"),
                                         ("cp314-cp314t", "3.14.6", "freethreading")):
        link = tmp_path / identifier
        records.append({"identifier": identifier, "implementation": "cpython", "version": version,
                        "variant": variant, "install_path": str(link), "prefix": "/unused", "minor": "x"})
    python = tmp_path / "cp313-cp313" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    path = tmp_path / "data.json"
    path.write_text(json.dumps(records))
    return str(path)


def run(data, *args):
    proc = subprocess.run([sys.executable, os.path.join(TEMPLATES, "manylinux_interpreters.py"), "--data", data,
                           *args], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def test_list_names_every_interpreter(data):
    assert run(data, "list") == (0, "cp313-cp313\ncp314-cp314t\n", "")


def test_list_installed_only_those_on_disk(data):
    assert run(data, "list", "--installed") == (0, "cp313-cp313\n", "")


def test_list_json(data):
    rc, out, _ = run(data, "list", "--format", "json")
    assert rc == 0
    items = json.loads(out)
    assert [(i["identifier"], i["installed"]) for i in items] == [("cp313-cp313", True), ("cp314-cp314t", False)]
    assert set(items[0]) == {"identifier", "implementation", "version", "variant", "install_path", "installed"}


def test_ensure(data):
    assert run(data, "ensure", "cp313-cp313")[0] == 0
    rc, _, err = run(data, "ensure", "cp313-cp313", "cp314-cp314t")
    assert rc == 1 and "cp314-cp314t not installed" in err
    rc, _, err = run(data, "ensure", "pp310-pypy310_pp73")
    assert rc == 2 and "unknown interpreter(s) pp310-pypy310_pp73" in err
    assert run(data, "ensure-all")[0] == 1


def test_missing_data_file_is_a_clear_error(tmp_path):
    rc, _, err = run(str(tmp_path / "absent.json"), "list")
    assert rc == 2 and "cannot read" in err


def test_no_command_is_a_usage_error(data):
    rc, _, err = run(data)
    assert rc == 2 and "usage" in err


def test_template_renders_a_runnable_script(tmp_path, data):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), keep_trailing_newline=True)
    env.filters["to_json"] = json.dumps
    text = env.get_template("manylinux-interpreters.j2").render(
        interpreters_command_python=sys.executable, interpreters_command_data=data, ansible_managed="managed")
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
