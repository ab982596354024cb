"""The pin updater (module manylinux_source_update) against fake upstreams on 127.0.0.1.

A local http.server serves a python.org release list and FTP tree, GitHub's releases JSON of
OpenSSL, sqlite's download.html, a PyPI simple JSON page and the files; a throwaway gpg key
signs the fake tarballs. Every test works on copies of the project's files in tmp_path.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest
import yaml

import manylinux_pins as pins
from conftest import load_group_vars
import manylinux_source_update as update
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_signatures import check_pgp

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SOURCES = "inventories/default/group_vars/all/sources.yml"
COPIED = [SOURCES, "tests/offline.yml", "roles/interpreters/defaults/main.yml",
          "roles/cpython_shared/defaults/main.yml", "roles/openssl35/defaults/main.yml",
          "roles/toolchain/defaults/main.yml"]
# A requirement file of the project's kind with one pin, which the fake index serves.
REQUIREMENTS = "roles/interpreters/files/requirements-3.9.txt"
REQUIREMENTS_TEXT = ("# pip for CPython 3.9, installed with --require-hashes.\n"
                     "pip==26.0.1 \\\n    --hash=sha256:bdb1b08f4274833d62c1aa29e20907365a2ceb950410df15fc9521bad440122b\n")
TARBALLS = {"Python-3.13.15.tar.xz": b"cpython 3.13.15", "openssl-3.5.8.tar.gz": b"openssl 3.5.8",
            "sqlite-autoconf-3530500.tar.gz": b"sqlite 3.53.5"}


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def gpg_key():
    """A throwaway signing key: (GNUPGHOME, fingerprint, armored public key file)."""
    if not shutil.which("gpg"):
        pytest.skip("gpg is not installed")
    home = tempfile.mkdtemp(prefix="g", dir="/tmp")  # short: gpg-agent's socket path
    env = dict(os.environ, GNUPGHOME=home)
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Test Release <release@example.invalid>",
                    "ed25519", "sign", "never"], env=env, check=True, capture_output=True)
    listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=env, check=True,
                             capture_output=True, text=True).stdout
    fingerprint = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")][0]
    keyring = os.path.join(home, "release-key.asc")
    with open(keyring, "wb") as out:
        out.write(subprocess.run(["gpg", "--batch", "--armor", "--export", fingerprint], env=env, check=True,
                                 capture_output=True).stdout)
    yield home, fingerprint, keyring
    subprocess.run(["gpgconf", "--kill", "all"], env=env, capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


def sign(gpg_key, path):
    subprocess.run(["gpg", "--batch", "--yes", "--armor", "--detach-sign", "-o", path + ".asc", path],
                   env=dict(os.environ, GNUPGHOME=gpg_key[0]), check=True, capture_output=True)


@pytest.fixture
def upstream(http_directory, gpg_key):
    """The fake upstreams' document root and base URL (a server on 127.0.0.1 for the test)."""
    web, base = http_directory
    files = {
        "ftp/python/3.13.15/Python-3.13.15.tar.xz": TARBALLS["Python-3.13.15.tar.xz"],
        "download/openssl-3.5.8.tar.gz": TARBALLS["openssl-3.5.8.tar.gz"],
        "2026/sqlite-autoconf-3530500.tar.gz": TARBALLS["sqlite-autoconf-3530500.tar.gz"],
    }
    for path, data in files.items():
        (web / path).parent.mkdir(parents=True, exist_ok=True)
        (web / path).write_bytes(data)
    sign(gpg_key, str(web / "ftp/python/3.13.15/Python-3.13.15.tar.xz"))
    sign(gpg_key, str(web / "download/openssl-3.5.8.tar.gz"))
    def write(path, text):
        (web / path).parent.mkdir(parents=True, exist_ok=True)
        (web / path).write_text(text)

    releases = [{"name": "Python %s" % v, "is_published": True, "pre_release": False}
                for v in ("3.13.14", "3.13.15", "3.14.6", "3.9.25", "3.10.22", "3.11.17", "3.12.15", "3.15.0")]
    releases += [{"name": "Python 3.13.16rc1", "is_published": True, "pre_release": True},
                 {"name": "Python 3.14.7", "is_published": True, "pre_release": True}]
    write("api/v2/downloads/release/index.html", json.dumps(releases))

    def asset(name):
        return {"name": name, "browser_download_url": "%s/download/%s" % (base, name)}
    write("repos/openssl/openssl/releases", json.dumps([
        {"tag_name": "openssl-3.6.1", "draft": False, "prerelease": False, "assets": [asset("openssl-3.6.1.tar.gz")]},
        {"tag_name": "openssl-3.5.9", "draft": False, "prerelease": True, "assets": [asset("openssl-3.5.9.tar.gz")]},
        {"tag_name": "openssl-3.5.8", "draft": False, "prerelease": False,
         "assets": [asset("openssl-3.5.8.tar.gz"), asset("openssl-3.5.8.tar.gz.asc")]},
        {"tag_name": "openssl-3.5.7", "draft": False, "prerelease": False, "assets": [asset("openssl-3.5.7.tar.gz")]},
    ]))
    sqlite = TARBALLS["sqlite-autoconf-3530500.tar.gz"]
    write("download.html", "<html><!-- Download product data for scripts to read\n"
          "PRODUCT,3.53.5,2026/sqlite-amalgamation-3530500.zip,2900000,%s\n"
          "PRODUCT,3.53.5,2026/sqlite-autoconf-3530500.tar.gz,%d,%s\n-->\n</html>\n" % (
              "0" * 64, len(sqlite), hashlib.sha3_256(sqlite).hexdigest()))

    def wheel(version, digest, yanked=False):
        return {"filename": "pip-%s-py3-none-any.whl" % version, "hashes": {"sha256": digest}, "yanked": yanked}
    write("simple/pip/index.html", json.dumps({"files": [
        wheel("26.0.1", "bdb1b08f4274833d62c1aa29e20907365a2ceb950410df15fc9521bad440122b"),
        {"filename": "pip-26.0.1.tar.gz", "hashes": {"sha256": "1" * 64}},
        wheel("26.0.2", "2" * 64), {"filename": "pip-26.0.2.tar.gz", "hashes": {"sha256": "3" * 64}},
        wheel("26.0.3", "4" * 64, yanked=True), wheel("26.0.4rc1", "5" * 64), wheel("26.1", "6" * 64),
    ]}))
    return web, base


@pytest.fixture
def project(tmp_path):
    """Copies of the files the updater reads and writes, at their project paths under tmp_path/p."""
    root = tmp_path / "p"
    for path in COPIED:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(os.path.join(ROOT, path), root / path)
    (root / REQUIREMENTS).parent.mkdir(parents=True, exist_ok=True)
    (root / REQUIREMENTS).write_text(REQUIREMENTS_TEXT)
    return root


def params(project, base, gpg_key, **changes):
    p = {
        "sources_file": str(project / SOURCES),
        "requirement_files": [str(project / "roles/interpreters/files/requirements-3.9.txt")],
        "components": {
            "cpython": {"kind": "python.org", "signature": ["sigstore", "pgp"]},
            "openssl": {"kind": "github", "repo": "openssl/openssl", "tag": "openssl-{version}",
                        "asset": "openssl-{version}.tar.gz", "signature": ["pgp"]},
            "sqlite": {"kind": "sqlite", "asset": r"/sqlite-autoconf-\d+\.tar\.gz$", "signature": ["sha3-page"]},
        },
        "upstreams": {"python.org": base, "github": base, "sqlite": base, "pypi": base + "/simple"},
        "pgp_keys": {name: {"keyring": gpg_key[2], "fingerprints": [gpg_key[1]]} for name in ("cpython", "openssl")},
        "override_files": [str(project / "tests/offline.yml")],
        "references": [
            {"name": "cpython", "file": str(project / "roles/interpreters/defaults/main.yml"),
             "path": "interpreters_versions.*.version"},
            {"name": "cpython", "file": str(project / "roles/cpython_shared/defaults/main.yml"),
             "path": "cpython_shared_versions.*.version"},
            {"name": "openssl", "file": str(project / "roles/openssl35/defaults/main.yml"),
             "path": "openssl35_version"},
            {"name": "sqlite", "file": str(project / "roles/toolchain/defaults/main.yml"),
             "path": "toolchain_sqlite_version"},
        ],
        "pypi_keep": "minor", "unverified_ok": [], "cache_dir": None, "timeout": 10,
        "sigstore_signers": load_group_vars("signers.yml")["build_sigstore_signers"],
    }
    p.update(changes)
    return p


def snapshot(project):
    return {path: (project / path).read_bytes() for path in COPIED + [REQUIREMENTS]}


def by_key(result):
    return {item["key"]: item for item in result["sources"]}


def test_check_mode_reports_and_leaves_every_file_byte_identical(project, upstream, gpg_key):
    before = snapshot(project)
    result = update.run(params(project, upstream[1], gpg_key), check_mode=True)
    items = by_key(result)
    assert result["changed"] and result["rewritten"] == []
    assert items["cpython-3.13.14"]["status"] == "update" and items["cpython-3.13.14"]["new_key"] == "cpython-3.13.15"
    # tests/offline.yml builds 3.13.14 from its cache: the old entry stays beside the new one
    assert items["cpython-3.13.14"]["kept"] == [str(project / "tests/offline.yml")]
    # a pre-release (3.5.9) and another series (3.6.1) are never taken
    assert items["openssl-3.5.7"]["status"] == "update" and items["openssl-3.5.7"]["new_version"] == "3.5.8"
    assert items["openssl-3.5.7"]["kept"] == []
    assert items["cpython-3.14.6"]["status"] == "current"  # 3.14.7 is a pre-release
    assert items["cpython-3.9.2"]["status"] == "skipped" and "cpython-3.9.25" in items["cpython-3.9.2"]["reason"]
    # sqlite's offline tarball is Debian's: held, and says what upstream has
    assert items["sqlite-3.53.4"]["status"] == "held" and "3.53.5" in items["sqlite-3.53.4"]["reason"]
    assert "mpdecimal-4.0.1" not in items
    # pip: 26.0.3 is yanked, 26.0.4rc1 a pre-release, 26.1 another series
    assert [(m["name"], m["version"], m["newest"]) for m in result["requirements"]] == [("pip", "26.0.1", "26.0.2")]
    assert snapshot(project) == before


def test_update_rewrites_entries_references_and_pins(project, upstream, gpg_key, tmp_path):
    before = snapshot(project)
    cache = tmp_path / "cache"
    result = update.run(params(project, upstream[1], gpg_key, override_files=[], cache_dir=str(cache)),
                        check_mode=False)
    items = by_key(result)
    assert result["not_verified"] == []
    cpython = items["cpython-3.13.14"]
    assert cpython["verified"] == ["pgp: good signature by %s" % gpg_key[1]]
    assert items["openssl-3.5.7"]["verified"] == ["pgp: good signature by %s" % gpg_key[1]]
    assert items["sqlite-3.53.4"]["verified"][0].startswith("sha3-page")
    table = yaml.safe_load((project / SOURCES).read_text())["build_sources"]
    assert "openssl-3.5.7" not in table and "cpython-3.13.14" not in table and "sqlite-3.53.4" not in table
    assert table["openssl-3.5.8"] == {
        "name": "openssl", "version": "3.5.8", "file": "openssl-3.5.8.tar.gz",
        "url": "%s/download/openssl-3.5.8.tar.gz" % upstream[1], "sha256": sha(TARBALLS["openssl-3.5.8.tar.gz"])}
    assert table["sqlite-3.53.5"]["file"] == "sqlite-autoconf-3530500.tar.gz"
    assert table["cpython-3.13.15"]["sha256"] == sha(TARBALLS["Python-3.13.15.tar.xz"])
    # only the moved entries' lines differ: every comment stays
    old, new = before[SOURCES].decode().splitlines(), (project / SOURCES).read_text().splitlines()
    assert len(old) == len(new) and [line for line in old if line.lstrip().startswith("#")] == \
        [line for line in new if line.lstrip().startswith("#")]
    assert sum(a != b for a, b in zip(old, new)) == 3 * 5
    assert 'openssl35_version: "3.5.8"' in (project / "roles/openssl35/defaults/main.yml").read_text()
    assert 'toolchain_sqlite_version: "3.53.5"' in (project / "roles/toolchain/defaults/main.yml").read_text()
    interpreters = (project / "roles/interpreters/defaults/main.yml").read_text()
    assert '- version: "3.13.15"' in interpreters and '"3.13.14"' not in interpreters
    # the pin had the wheel's hash only (--only-binary): so has the new one; its comment stays
    requirements = (project / "roles/interpreters/files/requirements-3.9.txt").read_text()
    assert requirements.endswith("pip==26.0.2 \\\n    --hash=sha256:%s\n" % ("2" * 64))
    assert requirements.startswith(before[REQUIREMENTS].decode().split("pip==")[0])
    assert sorted(os.listdir(cache)) == sorted(TARBALLS)
    # nothing newer is left: a second run changes nothing
    again = update.run(params(project, upstream[1], gpg_key, override_files=[]), check_mode=False)
    assert not again["changed"] and again["rewritten"] == []


def test_an_entry_the_offline_configuration_names_stays_beside_the_new_one(project, upstream, gpg_key):
    update.run(params(project, upstream[1], gpg_key), check_mode=False)
    table = yaml.safe_load((project / SOURCES).read_text())["build_sources"]
    assert "cpython-3.13.14" in table and table["cpython-3.13.15"]["version"] == "3.13.15"
    assert "openssl-3.5.7" not in table and "sqlite-3.53.4" in table and "sqlite-3.53.5" not in table


@pytest.mark.parametrize("damage", ["bad", "missing"])
def test_a_bad_or_missing_signature_rewrites_nothing(project, upstream, gpg_key, damage):
    web, base = upstream
    signature = web / "download/openssl-3.5.8.tar.gz.asc"
    if damage == "bad":  # a good signature, but of other bytes
        (web / "other").write_bytes(b"not openssl")
        sign(gpg_key, str(web / "other"))
        shutil.copyfile(web / "other.asc", signature)
    else:
        signature.unlink()
    before = snapshot(project)
    with pytest.raises(update.UpdateError) as err:
        update.run(params(project, base, gpg_key), check_mode=False)
    assert "nothing was rewritten" in str(err.value) and "openssl-3.5.8.tar.gz" in str(err.value)
    assert "refused" in str(err.value)
    assert snapshot(project) == before


def test_a_key_not_pinned_does_not_count(project, upstream, gpg_key):
    keys = {name: {"keyring": gpg_key[2], "fingerprints": ["0" * 40]} for name in ("cpython", "openssl")}
    before = snapshot(project)
    with pytest.raises(update.UpdateError) as err:
        update.run(params(project, upstream[1], gpg_key, pgp_keys=keys), check_mode=False)
    assert "no good signature of openssl-3.5.8.tar.gz" in str(err.value)
    assert snapshot(project) == before


def test_a_sha3_mismatch_rewrites_nothing_and_names_the_file(project, upstream, gpg_key):
    web, base = upstream
    (web / "2026/sqlite-autoconf-3530500.tar.gz").write_bytes(b"tampered")
    before = snapshot(project)
    with pytest.raises(update.UpdateError) as err:
        update.run(params(project, base, gpg_key, override_files=[]), check_mode=False)
    assert "sqlite-autoconf-3530500.tar.gz has sha3-256" in str(err.value)
    assert snapshot(project) == before


def serve_signed_cpython(web, asset, version="3.14.9"):
    """A final release `version` on the fake python.org whose tarball is a real signed file, with its bundle."""
    releases = json.loads((web / "api/v2/downloads/release/index.html").read_text())
    releases.append({"name": "Python %s" % version, "is_published": True, "pre_release": False})
    (web / "api/v2/downloads/release/index.html").write_text(json.dumps(releases))
    tarball = web / ("ftp/python/%s/Python-%s.tar.xz" % (version, version))
    tarball.parent.mkdir(parents=True)
    shutil.copyfile(asset["path"], tarball)
    shutil.copyfile(asset["bundle"], str(tarball) + ".sigstore")
    return tarball


def signers_of(asset):
    """The project's signer table with 3.14 signed by the asset's signer."""
    table = load_group_vars("signers.yml")["build_sigstore_signers"]
    signer = {field: asset[field] for field in ("identity", "issuer", "instance")}
    return dict(table, cpython=dict(table["cpython"], **{"3.14": signer}))


def test_a_sigstore_signed_release_is_verified_offline_and_taken(project, upstream, gpg_key, sigstore_assets,
                                                                 no_network):
    web, base = upstream
    asset = sigstore_assets["rfc8785-0.1.2-py3-none-any.whl"]
    serve_signed_cpython(web, asset)
    components = dict(params(project, base, gpg_key)["components"],
                      cpython={"kind": "python.org", "signature": ["sigstore", "pgp"]})
    result = update.run(params(project, base, gpg_key, components=components, override_files=[],
                               sigstore_signers=signers_of(asset)), check_mode=False)
    items = by_key(result)
    assert result["not_verified"] == []
    verified = items["cpython-3.14.6"]["verified"]
    assert len(verified) == 1 and verified[0].startswith("sigstore: ")
    assert "signed by william@yossarian.net (issuer https://github.com/login/oauth) on sigstore's staging" \
        in verified[0]
    table = yaml.safe_load((project / SOURCES).read_text())["build_sources"]
    assert table["cpython-3.14.9"]["sha256"] == sha(open(asset["path"], "rb").read())
    assert "cpython-3.14.6" not in table
    # 3.13.15 has no bundle: sigstore fails (named), pgp passes
    assert items["cpython-3.13.14"]["verified"] == ["pgp: good signature by %s" % gpg_key[1]]


@pytest.mark.parametrize("damage", ["byte", "bundle", "identity", "series"])
def test_a_bad_sigstore_release_is_refused_and_nothing_rewritten(project, upstream, gpg_key, sigstore_assets,
                                                                 no_network, damage):
    web, base = upstream
    asset = sigstore_assets["rfc8785-0.1.2-py3-none-any.whl"]
    tarball = serve_signed_cpython(web, asset)
    signers = signers_of(asset)
    if damage == "byte":
        data = bytearray(tarball.read_bytes())
        data[1000] ^= 0x01
        tarball.write_bytes(bytes(data))
    elif damage == "bundle":
        os.unlink(str(tarball) + ".sigstore")
    elif damage == "identity":
        signers["cpython"]["3.14"] = dict(signers["cpython"]["3.14"], identity="hugo@python.org")
    else:
        del signers["cpython"]["3.14"]
    expected = {"byte": r"Python-3\.14\.9\.tar\.xz \(sha256 [0-9a-f]{64}\) is not what .* signs",
                "bundle": r"the bundle of Python-3\.14\.9\.tar\.xz is missing: cannot download .*\.sigstore",
                "identity": r"is not signed by hugo@python\.org .* SANs do not match",
                "series": r"sigstore_signers names no signer of cpython 3\.14"}[damage]
    before = snapshot(project)
    with pytest.raises(update.UpdateError, match=expected) as err:
        update.run(params(project, base, gpg_key, sigstore_signers=signers), check_mode=False)
    assert "nothing was rewritten" in str(err.value)
    assert "cpython-3.14.9 (Python-3.14.9.tar.xz): refused" in str(err.value)
    assert snapshot(project) == before
    # taken only when asked for, and then reported as not verified
    result = update.run(params(project, base, gpg_key, sigstore_signers=signers, unverified_ok=["cpython"]),
                        check_mode=False)
    assert [n["key"] for n in result["not_verified"]] == ["cpython-3.14.9"]


def test_a_missing_keyring_is_named(project, upstream, gpg_key, tmp_path):
    keys = {name: {"keyring": str(tmp_path / "none.asc"), "fingerprints": [gpg_key[1]]} for name in ("cpython", "openssl")}
    with pytest.raises(update.UpdateError) as err:
        update.run(params(project, upstream[1], gpg_key, pgp_keys=keys), check_mode=False)
    assert "the keyring %s does not exist" % (tmp_path / "none.asc") in str(err.value)


def test_bad_options_are_named_before_any_request(project, gpg_key):
    p = params(project, "http://127.0.0.1:9", gpg_key)
    p["components"] = dict(p["components"], tcl={"kind": "ftp", "signature": ["pgp"]},
                           zstd={"kind": "github", "signature": ["md5"]})
    p["upstreams"] = {"pypi": "http://127.0.0.1:9"}
    errors = update.option_errors(p)
    assert "components.tcl: kind 'ftp' is not one of python.org, github, sqlite" in errors
    assert any(e.startswith("components.zstd: signature ['md5'] must be a non-empty list of pgp, sigstore, sha3-page")
               for e in errors)
    assert "components.zstd: kind github needs repo" in errors
    p["sigstore_signers"] = {}
    assert any(e.startswith("components.cpython: signature sigstore needs sigstore_signers.cpython")
               for e in update.option_errors(p))
    assert any("upstreams has no base URL for kind python.org" in e for e in errors)


def test_the_index_lookup_is_the_one_of_module_utils():
    with open(os.path.join(ROOT, "scripts", "pin-requirements")) as handle:
        script = handle.read()
    assert "import manylinux_pins" in script and "urlopen" not in script and "simple/" not in script


def test_module_utils_hashes_from_a_fake_index(upstream):
    base = upstream[1] + "/simple"
    assert pins.hashes("pip", "26.0.2", index=base) == sorted(["2" * 64, "3" * 64])
    assert pins.hashes("pip", "26.0.2", index=base, kinds=("wheel",)) == ["2" * 64]
    with pytest.raises(pins.PinError, match="pip==9.9 has no files"):
        pins.hashes("pip", "9.9", index=base)


def test_the_playbook_reports_in_check_mode_and_rewrites_without_it(project, upstream, gpg_key, tmp_path):
    base = upstream[1]
    extra = {
        "update_sources_root": str(project),
        "update_sources_python_org": base, "update_sources_github": base, "update_sources_sqlite": base,
        "update_sources_pypi": base + "/simple",
        "update_sources_pgp_keys": {n: {"keyring": gpg_key[2], "fingerprints": [gpg_key[1]]} for n in ("cpython", "openssl")},
        "update_sources_requirement_files": [str(project / "roles/interpreters/files/requirements-3.9.txt")],
        "update_sources_cache_dir": "",
    }
    (tmp_path / "extra.json").write_text(json.dumps(extra))
    before = snapshot(project)

    # the sources alone: the base images' registries are not faked here (tests/integration/test_base_pins.py)
    def play(*args):
        return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "playbooks/update_sources.yml",
                               "--tags", "sources", "-e", "@%s" % (tmp_path / "extra.json"), *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
    checked = play("--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "cpython-3.13.14: would move to 3.13.15" in checked.stdout
    assert "sqlite-3.53.4: held" in checked.stdout
    assert snapshot(project) == before
    done = play()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "openssl-3.5.7: moved to 3.5.8" in done.stdout and "checked: pgp: good signature" in done.stdout
    assert 'openssl35_version: "3.5.8"' in (project / "roles/openssl35/defaults/main.yml").read_text()


def test_an_upstream_that_cannot_be_read_is_named_and_nothing_is_written(project, upstream, gpg_key):
    upstreams = dict(params(project, upstream[1], gpg_key)["upstreams"], github="http://127.0.0.1:9")
    before = snapshot(project)
    for check_mode in (True, False):
        with pytest.raises(update.UpdateError) as err:
            update.run(params(project, upstream[1], gpg_key, upstreams=upstreams), check_mode=check_mode)
        assert "openssl-3.5.7: cannot read http://127.0.0.1:9/repos/openssl/openssl/releases" in str(err.value)
    assert snapshot(project) == before


def test_requirement_globs_are_expanded_and_one_matching_nothing_is_an_error(project, gpg_key):
    pattern = str(project / "roles/*/files/requirements*.txt")
    assert update.requirement_paths([pattern, pattern]) == [str(project / "roles/interpreters/files/requirements-3.9.txt")]
    errors = update.option_errors(params(project, "http://127.0.0.1:9", gpg_key,
                                         requirement_files=[str(project / "nothing/*.txt")]))
    assert errors == ["requirement_files: %s matches no file" % (project / "nothing/*.txt")]


def playbook_pgp_keys():
    """update_sources_pgp_keys of the playbook, with its keys directory resolved."""
    with open(os.path.join(ROOT, "playbooks", "update_sources.yml")) as handle:
        play_vars = yaml.safe_load(handle)[0]["vars"]
    keys_dir = os.path.join(ROOT, "playbooks", "files", "keys")
    return {name: dict(key, keyring=os.path.join(keys_dir, os.path.basename(key["keyring"])))
            for name, key in play_vars["update_sources_pgp_keys"].items()}


def test_the_committed_openssl_key_verifies_the_real_release(tmp_path):
    release = os.path.join(os.environ.get("MANYLINUX_SOURCE_CACHE") or os.path.join(ROOT, "..", "shared", "sources"),
                           "openssl-3.5.7.tar.gz")
    if not os.path.isfile(release):
        pytest.skip("no openssl-3.5.7.tar.gz in the offline source cache")
    os.symlink(release, tmp_path / "openssl-3.5.7.tar.gz")
    asc = "file://" + os.path.join(ROOT, "tests", "unit", "data", "openssl-3.5.7.tar.gz.asc")
    found = check_pgp(str(tmp_path / "openssl-3.5.7.tar.gz"), {"asc": asc}, playbook_pgp_keys()["openssl"],
                      str(tmp_path), 10)
    assert found == "pgp: good signature by BA5473A2B0587B07FB27CF2D216094DFD0CB81EF (made before the key expired)"
    # the same signature does not vouch for other bytes
    (tmp_path / "other.tar.gz").write_bytes(b"not openssl")
    with pytest.raises(update.UpdateError, match="no good signature of other.tar.gz"):
        check_pgp(str(tmp_path / "other.tar.gz"), {"asc": asc}, playbook_pgp_keys()["openssl"], str(tmp_path), 10)


def test_each_committed_keyring_holds_a_key_the_playbook_names():
    for name, key in playbook_pgp_keys().items():
        home = tempfile.mkdtemp(prefix="g", dir="/tmp")
        try:
            env = dict(os.environ, GNUPGHOME=home)
            subprocess.run(["gpg", "--batch", "--quiet", "--import", key["keyring"]], env=env, check=True,
                           capture_output=True)
            listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=env, check=True,
                                     capture_output=True, text=True).stdout
        finally:
            subprocess.run(["gpgconf", "--kill", "all"], env=dict(os.environ, GNUPGHOME=home), capture_output=True)
            shutil.rmtree(home, ignore_errors=True)
        held = {line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")}
        assert held & set(key["fingerprints"]), (name, held)


def test_a_key_that_expired_after_signing_still_counts(tmp_path):
    if not shutil.which("gpg"):
        pytest.skip("gpg is not installed")
    home = tempfile.mkdtemp(prefix="g", dir="/tmp")
    env = dict(os.environ, GNUPGHOME=home)
    try:
        subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Short <short@example.invalid>",
                        "ed25519", "sign", "seconds=3"], env=env, check=True, capture_output=True)
        listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=env, check=True,
                                 capture_output=True, text=True).stdout
        fingerprint = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")][0]
        keyring = tmp_path / "short.asc"
        keyring.write_bytes(subprocess.run(["gpg", "--batch", "--armor", "--export", fingerprint], env=env,
                                           check=True, capture_output=True).stdout)
        tarball = tmp_path / "thing-1.0.tar.gz"
        tarball.write_bytes(b"thing 1.0")
        subprocess.run(["gpg", "--batch", "--armor", "--detach-sign", "-o", str(tmp_path / "signed.asc"), str(tarball)],
                       env=env, check=True, capture_output=True)
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    time.sleep(4)
    found = check_pgp(str(tarball), {"asc": "file://%s" % (tmp_path / "signed.asc")},
                      {"keyring": str(keyring), "fingerprints": [fingerprint]}, str(tmp_path), 10)
    assert found == "pgp: good signature by %s (made before the key expired)" % fingerprint
