"""manylinux-install-clang (role toolchain's command), rendered as the role renders it, against an
HTTP server on 127.0.0.1 serving a release like mayeut/static-clang-images's."""

import functools
import hashlib
import http.server
import io
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import threading

import jinja2
import pytest
import yaml
from conftest import ROOT

ROLE = os.path.join(ROOT, "roles", "toolchain")
pytestmark = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("curl")), reason="needs gcc and curl")


def render(tmp_path, **target):
    defaults = yaml.safe_load(open(os.path.join(ROLE, "defaults", "main.yml")))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(ROLE, "templates")),
                             keep_trailing_newline=True)
    env.filters["quote"] = lambda value: shlex.quote(str(value))
    env.filters["regex_replace"] = lambda value, pattern, repl: re.sub(pattern, repl, value)
    text = env.get_template("manylinux-install-clang.j2").render(
        dict(defaults, ansible_managed="managed",
             build_target=dict({"platform_tag": "manylinux_2_31_x86_64", "devtoolset_root": ""}, **target),
             __toolchain_clang_target="x86_64-unknown-linux-gnu", __toolchain_clang_march="-march=x86-64"))
    script = tmp_path / "manylinux-install-clang"
    script.write_text(text)
    script.chmod(0o755)
    return str(script), defaults


def xz_archive(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for name, (text, mode) in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A release v0.0.1 (its sha256sums.txt and archive for amd64) served on 127.0.0.1."""
    root = tmp_path_factory.mktemp("served")
    version = root / "v0.0.1"
    version.mkdir()
    archive = xz_archive({"clang/bin/clang": ("#!/bin/sh\necho 'clang version 0.0.1'\n", 0o755)})
    (version / "static-clang-linux-amd64.tar.xz").write_bytes(archive)
    sums = "%s  static-clang-linux-amd64.tar.xz\n" % hashlib.sha256(archive).hexdigest()
    (version / "sha256sums.txt").write_text(sums)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield {"url": "http://127.0.0.1:%d" % httpd.server_address[1], "root": root,
           "sums_sha": hashlib.sha256(sums.encode()).hexdigest()}
    httpd.shutdown()


def run(script, tmp_path, release, *args):
    env = dict(os.environ, MANYLINUX_CLANG_PREFIX=str(tmp_path / "opt" / "clang"),
               MANYLINUX_CLANG_BASE_URL=release["url"])
    env.pop("RUNNER_ARCH", None)
    proc = subprocess.run([script, *args], capture_output=True, text=True, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def test_lists_the_known_versions_newest_first(tmp_path, release):
    script, defaults = render(tmp_path)
    rc, out, _ = run(script, tmp_path, release, "-l")
    assert rc == 0 and out.split() == [v["version"] for v in defaults["toolchain_clang_versions"]]
    assert "v21.1.8.1" in out.split()


def test_installs_a_release_checked_against_its_pins(tmp_path, release):
    script, _ = render(tmp_path)
    rc, out, err = run(script, tmp_path, release, "-v", "0.0.1", "-c", release["sums_sha"], "-m", "x86_64")
    assert rc == 0, err
    prefix = tmp_path / "opt" / "clang"
    assert subprocess.run([str(prefix / "bin" / "clang")], capture_output=True, text=True).stdout == \
        "clang version 0.0.1\n"
    cfg = (prefix / "bin" / "manylinux_2_31_x86_64.cfg").read_text().splitlines()
    assert cfg[:3] == ["-target x86_64-unknown-linux-gnu", "-march=x86-64", "--gcc-toolchain=/usr"]
    assert cfg[3].startswith("--gcc-triple=")
    assert (prefix / "bin" / "clang++.cfg").read_text() == "@manylinux_2_31_x86_64.cfg\n"
    # nothing of the download is left beside it
    assert sorted(p.name for p in (tmp_path / "opt").iterdir()) == ["clang"]


@pytest.mark.parametrize("args,message", [
    (["-v", "18.0"], "no known sha256 for static-clang v18.0"),
    (["-v", "21.1.8.1", "-c", "bad_sha"], "bad sha256 for static-clang v21.1.8.1: given bad_sha, expected a6f87a4a"),
    (["-m", "bad_arch"], "no static-clang toolchain for machine 'bad_arch'"),
    (["-v", "0.0.1", "-c", "0" * 64], "sha256sums.txt of v0.0.1 does not match"),
    (["-v", "0.0.2", "-c", "0" * 64], "cannot download"),
])
def test_refuses_and_keeps_the_installed_toolchain(tmp_path, release, args, message):
    script, _ = render(tmp_path)
    old = tmp_path / "opt" / "clang" / "bin"
    old.mkdir(parents=True)
    (old / "clang").write_text("old")
    rc, _, err = run(script, tmp_path, release, "-m", "x86_64", *args)   # a later -m wins
    assert rc != 0 and message in err, err
    assert (old / "clang").read_text() == "old"
    assert sorted(p.name for p in (tmp_path / "opt").iterdir()) == ["clang"]


def test_a_bad_archive_keeps_the_installed_toolchain(tmp_path, release):
    version = release["root"] / "v0.0.3"
    version.mkdir()
    (version / "static-clang-linux-amd64.tar.xz").write_bytes(b"not the archive")
    sums = "%s  static-clang-linux-amd64.tar.xz\n" % ("1" * 64)
    (version / "sha256sums.txt").write_text(sums)
    script, _ = render(tmp_path)
    rc, _, err = run(script, tmp_path, release, "-v", "0.0.3", "-c", hashlib.sha256(sums.encode()).hexdigest(),
                     "-m", "amd64")
    assert rc == 1 and "static-clang-linux-amd64.tar.xz does not match sha256sums.txt" in err
    assert not (tmp_path / "opt" / "clang").exists()
    assert list((tmp_path / "opt").iterdir()) == []
