"""Filters other than the policy lookup."""

import json
import os

import pytest
import yaml
from manylinux_components import manylinux_link_command
from manylinux_debootstrap import manylinux_offline_base
from manylinux_image_config import manylinux_commit_changes, manylinux_component_labels, manylinux_path_join
from manylinux_interpreters import (manylinux_cpython_tag, manylinux_downloadable_interpreters,
                                    manylinux_interpreter_table, manylinux_options_for)
from manylinux_references import manylinux_pushed_digests
from manylinux_source_table import AnsibleFilterError, manylinux_source, manylinux_sources


def test_source_table_entries_are_complete(sources):
    for key in sources:
        entry = manylinux_source(sources, key)
        assert key == "%s-%s" % (entry["name"], entry["version"])
        assert entry["url"].startswith("https://")


def test_unknown_source_names_the_declared_ones(sources):
    with pytest.raises(AnsibleFilterError) as err:
        manylinux_source(sources, "cpython-9.9.9")
    assert "cpython-9.9.9" in str(err.value) and "openssl-3.5.7" in str(err.value)


def test_bad_sha256_is_rejected():
    table = {"x-1": {"name": "x", "version": "1", "file": "x.tgz", "url": "https://e/x", "sha256": "abc"}}
    with pytest.raises(AnsibleFilterError, match="64 hex digits"):
        manylinux_source(table, "x-1")


def test_sources_are_deduplicated_in_order(sources):
    keys = ["cpython-3.14.6", "openssl-3.5.7", "cpython-3.14.6"]
    assert [s["key"] for s in manylinux_sources(sources, keys)] == ["cpython-3.14.6", "openssl-3.5.7"]


def test_commit_changes_quote_values():
    changes = manylinux_commit_changes(
        {"B": 'say "hi"', "A": "/x:/y", "NONE": None},
        {"io.example.policy": "manylinux_2_31"},
        ["manylinux-entrypoint"], ["/bin/bash"])
    assert changes == [
        'ENV A="/x:/y"',
        'ENV B="say \\"hi\\""',
        'LABEL "io.example.policy"="manylinux_2_31"',
        'ENTRYPOINT ["manylinux-entrypoint"]',
        'CMD ["/bin/bash"]',
    ]


def test_path_join_prepends_without_repeats():
    assert manylinux_path_join(["/opt/rh/bin", "/usr/bin"], "/usr/local/bin:/usr/bin") == \
        "/opt/rh/bin:/usr/bin:/usr/local/bin"
    assert manylinux_path_join([], "") == ""


def test_component_labels():
    manifests = [json.loads('{"name": "openssl", "version": "3.5.7"}'),
                 {"name": "cpython-3.13.14", "version": "3.13.14"}, {"name": "cpython-3.14.6", "version": "3.14.6"},
                 {"name": "python-tools", "version": "6.8.2", "details": {"tools": {"auditwheel": "6.8.2",
                                                                                    "cmake": "4.4.5"}}}]
    assert manylinux_component_labels(manifests, "p") == {
        "p.openssl": "3.5.7", "p.cpython-3.13.14": "3.13.14", "p.cpython-3.14.6": "3.14.6",
        "p.python-tools": "6.8.2", "p.python-tools.auditwheel": "6.8.2", "p.python-tools.cmake": "4.4.5"}
    with pytest.raises(AnsibleFilterError):
        manylinux_component_labels([{"name": "x"}], "p")
    with pytest.raises(AnsibleFilterError, match="two components named cpython"):
        manylinux_component_labels([{"name": "cpython", "version": "3.13"}, {"name": "cpython", "version": "3.14"}],
                                   "p")


# The apt sources of each host, as its installer writes them.
APT_SOURCES = {
    "debian-11": ["deb http://deb.debian.org/debian bullseye main\n"
                  "deb http://security.debian.org/debian-security bullseye-security main\n"
                  "deb http://deb.debian.org/debian bullseye-updates main\n"],
    "debian-12": ["# See sources.list(5)\n", """Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""],
    "debian-13": ["", """Types: deb deb-src
URIs: http://security.debian.org/debian-security
Suites: trixie-security
Components: main

Types: deb
URIs: https://mirror.example/debian/
Suites: trixie trixie-updates
Components: main non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""],
    "ubuntu-20.04": ["deb http://archive.ubuntu.com/ubuntu/ focal main restricted\n"
                     "# deb-src http://archive.ubuntu.com/ubuntu/ focal main restricted\n"
                     "deb http://archive.ubuntu.com/ubuntu/ focal-updates main restricted\n"
                     "deb http://security.ubuntu.com/ubuntu focal-security main restricted\n"],
    "ubuntu-22.04": ["deb http://security.ubuntu.com/ubuntu jammy-security main restricted\n"
                     "deb [arch=amd64 signed-by=/usr/share/keyrings/ubuntu-archive-keyring.gpg] "
                     "http://azure.archive.ubuntu.com/ubuntu/ jammy main restricted universe\n",
                     "deb [arch=amd64] https://packages.microsoft.com/ubuntu/22.04/prod jammy main\n"],
    "ubuntu-24.04": ["# Ubuntu sources have moved to /etc/apt/sources.list.d/ubuntu.sources\n", """Types: deb
URIs: http://security.ubuntu.com/ubuntu/
Suites: noble-security
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

Types: deb
URIs: http://azure.archive.ubuntu.com/ubuntu/
Suites: noble noble-updates noble-backports
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg
"""],
}


@pytest.fixture(scope="module")
def offline_bases():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "inventories", "default", "group_vars", "all",
                        "policies.yml")
    with open(path) as handle:
        return yaml.safe_load(handle)["build_offline_bases"]


@pytest.mark.parametrize("host,distribution,mirror,suite,newer", [
    ("debian-11", "debian", "http://deb.debian.org/debian", "bullseye", "bookworm"),
    ("debian-12", "debian", "http://deb.debian.org/debian", "bullseye", "bookworm"),
    ("debian-13", "debian", "https://mirror.example/debian", "bullseye", "bookworm"),
    ("ubuntu-20.04", "ubuntu", "http://archive.ubuntu.com/ubuntu", "focal", "noble"),
    ("ubuntu-22.04", "ubuntu", "http://azure.archive.ubuntu.com/ubuntu", "focal", "noble"),
    ("ubuntu-24.04", "ubuntu", "http://azure.archive.ubuntu.com/ubuntu", "focal", "noble"),
])
def test_offline_base_follows_the_hosts_archive(offline_bases, host, distribution, mirror, suite, newer):
    base = manylinux_offline_base(APT_SOURCES[host], offline_bases, "manylinux_2_31", "amd64")
    assert (base["distribution"], base["mirror"], base["suite"]) == (distribution, mirror, suite)
    assert base["keyring"] == "/usr/share/keyrings/%s-archive-keyring.gpg" % distribution
    assert manylinux_offline_base(APT_SOURCES[host], offline_bases, "newer", "amd64")["suite"] == newer


def test_offline_base_of_a_foreign_arch_on_ubuntu_comes_from_the_ports_archive(offline_bases):
    base = manylinux_offline_base(APT_SOURCES["ubuntu-24.04"], offline_bases, "manylinux_2_31", "armhf")
    assert base["mirror"] == "http://ports.ubuntu.com/ubuntu-ports"
    assert "universe" in base["components"]
    # Debian's archive holds every architecture
    assert manylinux_offline_base(APT_SOURCES["debian-12"], offline_bases, "manylinux_2_31", "armhf")[
        "mirror"] == "http://deb.debian.org/debian"


def test_offline_base_mirror_and_distribution_overrides(offline_bases):
    base = manylinux_offline_base([], offline_bases, "manylinux_2_31", "armhf",
                                  mirror="http://local.example/ubuntu-ports/")
    assert (base["distribution"], base["mirror"]) == ("ubuntu", "http://local.example/ubuntu-ports")
    both = APT_SOURCES["ubuntu-22.04"] + APT_SOURCES["debian-11"]
    assert manylinux_offline_base(both, offline_bases, "manylinux_2_31", "amd64")["distribution"] == "ubuntu"
    assert manylinux_offline_base(both, offline_bases, "manylinux_2_31", "amd64",
                                  distribution="debian")["mirror"] == "http://deb.debian.org/debian"


@pytest.mark.parametrize("texts,kwargs,message", [
    (["deb https://packages.example/apt stable main\n"], {},
     "no debian/ubuntu archive mirror found in the apt sources \\(seen: https://packages.example/apt\\); "
     "set base_mirror"),
    (APT_SOURCES["debian-11"], {"distribution": "ubuntu"}, "no ubuntu archive mirror found"),
    (APT_SOURCES["debian-11"], {"distribution": "fedora"}, "base_distribution=fedora .* choose one of: debian, ubuntu"),
    (APT_SOURCES["debian-11"], {"release": "sid"}, "base_release=sid .* choose one of: manylinux_2_31, newer"),
])
def test_offline_base_refuses_what_it_cannot_bootstrap(offline_bases, texts, kwargs, message):
    release = kwargs.pop("release", "manylinux_2_31")
    with pytest.raises(AnsibleFilterError, match=message):
        manylinux_offline_base(texts, offline_bases, release, "amd64", **kwargs)


def test_tree_hash_follows_contents_and_modes(tmp_path):
    from manylinux_keys import manylinux_tree_hash
    role = tmp_path / "role"
    (role / "tasks").mkdir(parents=True)
    (role / "tasks" / "main.yml").write_text("a")
    first = manylinux_tree_hash([str(role)])
    (role / "tasks" / "__pycache__").mkdir()
    (role / "tasks" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    assert manylinux_tree_hash([str(role)]) == first
    (role / "tasks" / "main.yml").write_text("b")
    second = manylinux_tree_hash([str(role)])
    assert second != first
    (role / "tasks" / "main.yml").chmod(0o755)
    assert manylinux_tree_hash([str(role)]) != second
    with pytest.raises(AnsibleFilterError):
        manylinux_tree_hash([str(tmp_path / "missing")])


def test_role_inputs_of_a_base_entry_point_are_its_tasks_os_data_and_declared_values(tmp_path):
    from manylinux_keys import manylinux_role_inputs
    role = tmp_path / "r"
    for name in ("tasks/main.yml", "vars/Debian.yml", "vars/RedHat.yml", "vars/main.yml", "defaults/main.yml"):
        (role / name).parent.mkdir(parents=True, exist_ok=True)
        (role / name).write_text(name)
    entry = {"role": "r", "path": str(role), "entry_points": {"runtime_base": ["r_packages"], "main": []}}
    first = manylinux_role_inputs(entry, "runtime_base", {"r_packages": ["a"], "r_other": 1})
    assert first["options"] == {"r_packages": ["a"]}
    # component data (vars/main.yml, defaults) do not key a base
    (role / "vars" / "main.yml").write_text("changed")
    assert manylinux_role_inputs(entry, "runtime_base", {"r_packages": ["a"]}) == first
    # every OS data file does: which of them a container loads is its distribution's choice
    (role / "vars" / "RedHat.yml").write_text("changed")
    second = manylinux_role_inputs(entry, "runtime_base", {"r_packages": ["a"]})
    assert second["files"] != first["files"]
    (role / "vars" / "Debian_11.yml").write_text("new")
    assert manylinux_role_inputs(entry, "runtime_base", {"r_packages": ["a"]})["files"] != second["files"]
    assert manylinux_role_inputs(entry, "runtime_base", {"r_packages": ["b"]})["options"] != first["options"]
    # main: the whole role
    main = manylinux_role_inputs(entry, "main", {})
    (role / "defaults" / "main.yml").write_text("changed")
    assert manylinux_role_inputs(entry, "main", {})["files"] != main["files"]
    with pytest.raises(AnsibleFilterError, match="no entry point build_base"):
        manylinux_role_inputs(entry, "build_base", {})


def test_labeled_maps_label_values_to_images():
    from manylinux_cache_images import manylinux_labeled
    images = [{"Id": "sha256:a", "Config": {"Labels": {"k": "one"}}},
              {"Id": "sha256:b", "Config": {"Labels": None}},
              {"Id": "sha256:c", "Labels": {"k": "two"}}]
    assert manylinux_labeled(images, "k") == {"one": "sha256:a", "two": "sha256:c"}


def test_library_environment():
    from manylinux_components import manylinux_library_environment
    assert manylinux_library_environment("/opt/_internal/zstd-1/") == {
        "CPPFLAGS": "-I/opt/_internal/zstd-1/include",
        "LDFLAGS": "-L/opt/_internal/zstd-1/lib -Wl,--enable-new-dtags,-rpath,/opt/_internal/zstd-1/lib",
        "PKG_CONFIG_PATH": "/opt/_internal/zstd-1/lib/pkgconfig"}
    with pytest.raises(AnsibleFilterError):
        manylinux_library_environment("relative")


def test_cache_prune_follows_parents_and_keeps_the_newest_bases():
    from manylinux_cache_images import manylinux_cache_prune
    kind, art = "p.cache-kind", "p.cache-artifact"
    images = [
        {"Id": "rb", "ParentId": "base", "Created": 2, "Labels": {"p.cache-key": "r", kind: "runtime-base"},
         "RepoTags": ["c:pa-runtime-base-1"]},
        {"Id": "rb-old", "ParentId": "base", "Created": 1, "Labels": {"p.cache-key": "r0", kind: "runtime-base"},
         "RepoTags": ["c:pa-runtime-base-0"]},
        {"Id": "bb", "ParentId": "rb", "Created": 3, "Labels": {"p.cache-key": "b", kind: "build-base"},
         "RepoTags": ["c:pa-build-base-1"]},
        {"Id": "l1", "ParentId": "rb", "Labels": {"p.cache-key": "1", kind: "layer", art: "x-1"}, "RepoTags": ["c:pa-layer-x-1"]},
        {"Id": "l2", "ParentId": "l1", "Labels": {"p.cache-key": "2", kind: "layer", art: "y-2"}, "RepoTags": ["c:pa-layer-y-2"]},
        {"Id": "final", "ParentId": "l2", "Labels": {"p.cache-key": "", "p.policy": "x", art: ""}, "RepoTags": ["img:latest"]},
        {"Id": "l3", "ParentId": "l1", "Labels": {"p.cache-key": "3", kind: "layer", art: "y-3"}, "RepoTags": ["c:pa-layer-y-3"]},
        {"Id": "old-final", "ParentId": "l3", "Labels": {"p.cache-key": "", "p.policy": "x"}, "RepoTags": []},
        {"Id": "base", "ParentId": "", "Labels": {}, "RepoTags": ["base:latest"]},
    ]
    assert manylinux_cache_prune(images, "p", "c") == {"remove": ["c:pa-layer-y-3", "c:pa-runtime-base-0"],
                                                       "artifacts": ["x-1", "y-2"]}
    # a container of a running build keeps its layer and the artifact in it
    assert manylinux_cache_prune(images, "p", "c", in_use=["l3"]) == {"remove": ["c:pa-runtime-base-0"],
                                                                      "artifacts": ["x-1", "y-2", "y-3"]}
    # without the final image, only the newest bases stay
    assert manylinux_cache_prune([i for i in images if i["Id"] != "final"], "p", "c")["remove"] == \
        ["c:pa-layer-x-1", "c:pa-layer-y-2", "c:pa-layer-y-3", "c:pa-runtime-base-0"]


def test_cache_prune_removes_only_the_cache_images_of_its_repository():
    from manylinux_cache_images import manylinux_cache_prune
    kind = "p.cache-kind"

    def layer(image_id, parent, tags):
        return {"Id": image_id, "ParentId": parent, "Labels": {"p.cache-key": image_id, kind: "layer"}, "RepoTags": tags}
    images = [
        {"Id": "base", "ParentId": "", "Labels": {}, "RepoTags": ["base:latest"]},
        layer("ours", "base", ["c:pa-layer-x-1"]),
        layer("ours-untagged", "ours", []),
        # another build's (or a test's) repository: unused too, and not prune's to remove
        layer("theirs", "base", ["itest/other:pa-layer-x-1"]),
        layer("theirs-untagged", "theirs", ["<none>:<none>"]),
        # an untagged cache image on no cache image: of no known repository
        layer("nobodys", "base", []),
        # tagged in both: only its tag here goes
        layer("both", "base", ["c:pa-layer-z-1", "itest/other:pa-layer-z-1"]),
    ]
    assert manylinux_cache_prune(images, "p", "c")["remove"] == ["c:pa-layer-x-1", "c:pa-layer-z-1", "ours-untagged"]
    assert manylinux_cache_prune(images, "p", "itest/other")["remove"] == [
        "itest/other:pa-layer-x-1", "itest/other:pa-layer-z-1", "theirs-untagged"]


@pytest.mark.parametrize("version, free_threading, expected", [
    ("3.9.25", False, "cp39-cp39"),
    ("3.13.14", False, "cp313-cp313"),
    ("3.14.6", True, "cp314-cp314t"),
    ("3.15.0rc1", False, "cp315-cp315"),
])
def test_cpython_tag(version, free_threading, expected):
    assert manylinux_cpython_tag(version, free_threading) == expected


@pytest.mark.parametrize("version, free_threading, message", [
    ("3.12.15", True, "no free-threading build"),
    ("2.7.18", False, "predates"),
    ("three", False, "not a version"),
])
def test_cpython_tag_rejects(version, free_threading, message):
    with pytest.raises(AnsibleFilterError, match=message):
        manylinux_cpython_tag(version, free_threading)


OPTIONS = [
    {"option": "--with-system-libmpdec"},
    {"option": "--with-tcltk-libs=-ltk8.6", "before": "3.11"},
    {"option": "--new-thing", "since": "3.14"},
    {"option": "--window", "since": "3.10", "before": "3.12"},
]


@pytest.mark.parametrize("version, expected", [
    ("3.9.2", ["--with-system-libmpdec", "--with-tcltk-libs=-ltk8.6"]),
    ("3.10.22", ["--with-system-libmpdec", "--with-tcltk-libs=-ltk8.6", "--window"]),
    ("3.11.17", ["--with-system-libmpdec", "--window"]),
    ("3.13.14", ["--with-system-libmpdec"]),
    ("3.14.6", ["--with-system-libmpdec", "--new-thing"]),
])
def test_options_for_version(version, expected):
    assert manylinux_options_for(OPTIONS, version) == expected


def test_options_for_rejects_unknown_keys():
    with pytest.raises(AnsibleFilterError, match="unknown keys until"):
        manylinux_options_for([{"option": "-x", "until": "3.11"}], "3.13")
    with pytest.raises(AnsibleFilterError, match="has no 'option'"):
        manylinux_options_for(["--plain"], "3.13")


def test_interpreter_table():
    table = manylinux_interpreter_table(
        [{"version": "3.9.25"}, {"version": "3.14.6", "free_threading": True, "configure_options": ["-x"]}],
        "/opt/_internal/", "/opt/python")
    assert [(r["identifier"], r["prefix"], r["install_path"], r["python"], r["variant"]) for r in table] == [
        ("cp39-cp39", "/opt/_internal/cpython-3.9.25", "/opt/python/cp39-cp39", "python3.9", "default"),
        ("cp314-cp314t", "/opt/_internal/cpython-3.14.6-nogil", "/opt/python/cp314-cp314t", "python3.14t",
         "freethreading"),
    ]
    assert table[1]["configure_options"] == ["-x"] and table[1]["minor"] == "3.14"


def test_interpreter_table_rejects_two_entries_with_one_tag():
    with pytest.raises(AnsibleFilterError, match=r"3.13.13 and 3.13.14 are both cp313-cp313"):
        manylinux_interpreter_table([{"version": "3.13.13"}, {"version": "3.13.14"}], "/opt/_internal", "/opt/python")
    with pytest.raises(AnsibleFilterError, match="has no version"):
        manylinux_interpreter_table([{"free_threading": True}], "/opt/_internal", "/opt/python")


@pytest.mark.parametrize("name, value, ok", [
    ("build_image_tag", "2026.12.01-1", True), ("build_image_tag", "bad tag", False), ("build_image_tag", "-x", False),
    ("build_image_tag", "x" * 129, False), ("build_image_registry", "127.0.0.1:5000", True),
    ("build_image_registry", "", True), ("build_image_registry", "http://x", False),
    ("build_image_owner", "manylinux-shared", True), ("build_image_owner", "Upper", False),
    ("build_image_owner", "a/b", True), ("build_image_suffix", "-shared", True), ("build_image_suffix", "", True),
    ("build_image_suffix", "-Shared", False), ("build_id", "", True), ("build_id", "molecule", True),
    ("build_id", "a b", False), ("build_id", "$(id)", False), ("build_log_root", "relative", False),
    ("build_cache_repository", "manylinux-shared/cache", True), ("build_cache_repository", "Bad/Repo", False),
])
def test_naming_rules(name, value, ok):
    from manylinux_policy import manylinux_naming_errors
    errors = manylinux_naming_errors({name: value})
    assert (errors == []) == ok, errors
    if not ok:
        assert errors[0].startswith("%s=" % name) and " is not " in errors[0]


def test_pushed_digests_name_every_tag_of_every_pushed_repository_and_each_list():
    images = [{"RepoDigests": ["r:5000/o/p_x86_64-shared@sha256:aa", "other/o/p_x86_64-shared@sha256:zz"]},
              {"RepoDigests": ["r:5000/o/p_armv7l-shared@sha256:bb"]}, {"RepoDigests": None}]
    pushes = [{"item": "2026.12.02-1", "stdout": "sha256:cc\n"}, {"item": "latest", "stdout": "sha256:dd"},
              {"item": "skipped"}]
    assert manylinux_pushed_digests(images, "r:5000/o", ["2026.12.02-1", "latest"], "r:5000/o/p-shared", pushes) == {
        "r:5000/o/p_x86_64-shared:2026.12.02-1": "sha256:aa", "r:5000/o/p_x86_64-shared:latest": "sha256:aa",
        "r:5000/o/p_armv7l-shared:2026.12.02-1": "sha256:bb", "r:5000/o/p_armv7l-shared:latest": "sha256:bb",
        "r:5000/o/p-shared:2026.12.02-1": "sha256:cc", "r:5000/o/p-shared:latest": "sha256:dd"}


INTERPRETERS_DEFAULTS = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "interpreters", "defaults",
                                     "main.yml")


def test_downloadable_interpreters_of_an_arch_with_their_pins():
    with open(INTERPRETERS_DEFAULTS) as handle:
        defaults = yaml.safe_load(handle)
    table, requirements = defaults["interpreters_downloadable"], defaults["interpreters_requirements"]
    x86_64 = manylinux_downloadable_interpreters(table, "x86_64", requirements, "/opt/_internal/mi/")
    assert sorted(x86_64) == sorted(table)
    pypy = x86_64["pp311-pypy311_pp73"]
    assert pypy["implementation"] == "pypy" and pypy["python_version"] == "3.11"
    assert pypy["url"].endswith("-linux64.tar.bz2") and len(pypy["sha256"]) == 64
    assert pypy["requirements"] == "/opt/_internal/mi/" + requirements["default"]
    assert x86_64["pp39-pypy39_pp73"]["requirements"] == "/opt/_internal/mi/" + requirements["3.9"]
    # as upstream's python_versions.json: no GraalPy on i686, nothing on the others
    assert sorted(manylinux_downloadable_interpreters(table, "i686", requirements, "/r")) == [
        "pp310-pypy310_pp73", "pp311-pypy311_pp73", "pp39-pypy39_pp73"]
    assert manylinux_downloadable_interpreters(table, "s390x", requirements, "/r") == {}
    # what the image installs by default is in the table
    assert set(defaults["interpreters_ensure"]) <= set(table)


def test_downloadable_interpreters_name_what_an_entry_lacks():
    with pytest.raises(AnsibleFilterError, match="pp1-x lacks arches, python_version"):
        manylinux_downloadable_interpreters({"pp1-x": {"implementation": "pypy"}}, "x86_64", {}, "/r")
    entry = {"implementation": "pypy", "python_version": "3.11",
             "arches": {"x86_64": {"implementation_version": "1", "url": "https://e/x.tar.bz2", "sha256": "abc"}}}
    with pytest.raises(AnsibleFilterError, match="pp1-x on x86_64: sha256 'abc' is not 64 hex digits"):
        manylinux_downloadable_interpreters({"pp1-x": entry}, "x86_64", {}, "/r")
    del entry["arches"]["x86_64"]["url"]
    with pytest.raises(AnsibleFilterError, match="pp1-x on x86_64 lacks url"):
        manylinux_downloadable_interpreters({"pp1-x": entry}, "x86_64", {}, "/r")


def test_link_command_makes_each_link_and_a_rerun_replaces_them(tmp_path):
    import subprocess
    target = tmp_path / "prefix with space" / "tcl.pc"
    target.parent.mkdir()
    target.write_text("pc")
    links = [{"src": str(target), "dest": str(tmp_path / "local" / "lib" / "pkgconfig" / "tcl.pc")},
             {"src": str(target), "dest": str(tmp_path / "local" / "bin" / "it's")}]
    command = manylinux_link_command(links)
    for _ in range(2):
        subprocess.run(["sh", "-c", command], check=True)
        for link in links:
            assert os.readlink(link["dest"]) == link["src"]
    with pytest.raises(AnsibleFilterError, match="absolute"):
        manylinux_link_command([{"src": "relative", "dest": "/x"}])
    with pytest.raises(AnsibleFilterError, match="no links"):
        manylinux_link_command([])


CENTOS_7 = {"os_family": "RedHat", "distribution": "CentOS", "distribution_major_version": "7",
            "distribution_version": "7.9"}


def test_os_data_chain_goes_from_the_family_to_the_release():
    from manylinux_os_data import manylinux_os_data_chain
    assert manylinux_os_data_chain(CENTOS_7) == ["RedHat.yml", "CentOS.yml", "CentOS_7.yml", "CentOS_7.9.yml"]
    # Debian's family is Debian: no name twice; a release without a minor version once
    debian = {"os_family": "Debian", "distribution": "Debian", "distribution_major_version": "11",
              "distribution_version": "11"}
    assert manylinux_os_data_chain(debian) == ["Debian.yml", "Debian_11.yml"]
    with pytest.raises(AnsibleFilterError, match="lack distribution_major_version"):
        manylinux_os_data_chain({"os_family": "RedHat", "distribution": "CentOS", "distribution_version": "7"})


def test_os_data_files_are_those_of_the_chain_that_exist_in_load_order(tmp_path):
    from manylinux_os_data import manylinux_os_data_files
    for name in ("CentOS_7.yml", "RedHat.yml", "AlmaLinux_8.yml", "main.yml"):
        (tmp_path / name).write_text("---\n")
    assert manylinux_os_data_files(str(tmp_path), CENTOS_7) == [str(tmp_path / "RedHat.yml"), str(tmp_path / "CentOS_7.yml")]
    assert manylinux_os_data_files(str(tmp_path / "missing"), CENTOS_7) == []
