"""Filters other than the policy lookup."""

import json

import pytest
from manylinux import (AnsibleFilterError, manylinux_apt_mirror, manylinux_archive_root,
                       manylinux_commit_changes, manylinux_component_labels, manylinux_cpython_tag,
                       manylinux_interpreter_table, manylinux_options_for, manylinux_path_join,
                       manylinux_source, manylinux_sources)


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


def test_archive_root():
    assert manylinux_archive_root(["openssl-3.5.7/", "openssl-3.5.7/Configure"]) == "openssl-3.5.7"
    assert manylinux_archive_root(["./tcl8.6.18/", "./tcl8.6.18/unix/configure"]) == "tcl8.6.18"
    with pytest.raises(AnsibleFilterError, match="one top directory"):
        manylinux_archive_root(["a/x", "b/y"])


def test_component_labels():
    manifests = [json.loads('{"name": "openssl", "version": "3.5.7"}'),
                 {"name": "cpython", "version": "3.13.14"}, {"name": "cpython", "version": "3.14.6"},
                 {"name": "cpython", "version": "3.14.6"}]
    assert manylinux_component_labels(manifests, "p") == {"p.openssl": "3.5.7", "p.cpython": "3.13.14,3.14.6"}
    with pytest.raises(AnsibleFilterError):
        manylinux_component_labels([{"name": "x"}], "p")


DEB822 = """Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_apt_mirror_from_deb822():
    assert manylinux_apt_mirror(["", DEB822]) == "http://mirror.example/debian"


def test_apt_mirror_from_one_line_format_skips_security():
    text = "deb http://security.example/debian-security bookworm-security main\n" \
           "deb [arch=amd64] http://mirror.example/debian/ bookworm main\n"
    assert manylinux_apt_mirror([text]) == "http://mirror.example/debian"


def test_apt_mirror_missing():
    with pytest.raises(AnsibleFilterError, match="base_mirror"):
        manylinux_apt_mirror(["deb https://packages.example/apt stable main\n"])


def test_stage_plan_walks_cached_stages():
    from manylinux import manylinux_stage_key, manylinux_stage_plan
    fps = {"a": "fa", "b": "fb", "c": "fc"}
    key_a = manylinux_stage_key("fa", "sha256:base")
    key_b = manylinux_stage_key("fb", "sha256:A")
    images = [{"Id": "sha256:A", "Labels": {"k": key_a}, "RepoTags": ["s:a"]},
              {"Id": "sha256:B", "Labels": {"k": key_b}, "RepoTags": ["s:b"]},
              {"Id": "sha256:final", "Labels": {"k": ""}, "RepoTags": ["x:latest"]}]
    plan = manylinux_stage_plan(images, "sha256:base", ["a", "b", "c"], fps, "k")
    assert plan["start_image"] == "sha256:B"
    assert [c["role"] for c in plan["cached"]] == ["a", "b"]
    assert plan["remaining"] == ["c"]
    # a changed fingerprint of b: a stays cached, b and everything after are applied
    plan = manylinux_stage_plan(images, "sha256:base", ["a", "b", "c"], dict(fps, b="fb2"), "k")
    assert plan["start_image"] == "sha256:A" and plan["remaining"] == ["b", "c"]
    # no cache: everything from the base
    plan = manylinux_stage_plan(images, "sha256:base", ["a", "b", "c"], fps, "k", use_cache=False)
    assert plan == {"start_image": "sha256:base", "cached": [], "remaining": ["a", "b", "c"]}


def test_stage_plan_prefers_tagged_images():
    from manylinux import manylinux_stage_key, manylinux_stage_plan
    key = manylinux_stage_key("fa", "sha256:base")
    images = [{"Id": "sha256:old", "Labels": {"k": key}, "RepoTags": []},
              {"Id": "sha256:new", "Labels": {"k": key}, "RepoTags": ["s:a"]}]
    assert manylinux_stage_plan(images, "sha256:base", ["a"], {"a": "fa"}, "k")["start_image"] == "sha256:new"


def test_stage_key_depends_on_both_inputs():
    from manylinux import manylinux_stage_key
    assert manylinux_stage_key("f", "sha256:1") != manylinux_stage_key("f", "sha256:2")
    assert manylinux_stage_key("f", "sha256:1") != manylinux_stage_key("g", "sha256:1")
    with pytest.raises(AnsibleFilterError):
        manylinux_stage_key("f", "")


def test_tree_hash_follows_contents_and_modes(tmp_path):
    from manylinux import manylinux_tree_hash
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


def test_role_dir_searches_the_roles_paths(tmp_path):
    from manylinux import manylinux_role_dir
    (tmp_path / "b" / "r").mkdir(parents=True)
    assert manylinux_role_dir("r", [str(tmp_path / "a"), str(tmp_path / "b")]) == str(tmp_path / "b" / "r")
    with pytest.raises(AnsibleFilterError):
        manylinux_role_dir("missing", [str(tmp_path)])


def test_unused_stages_follow_parents():
    from manylinux import manylinux_unused_stages
    images = [
        {"Id": "s1", "ParentId": "base", "Labels": {"k": "a"}, "RepoTags": ["stage:1"]},
        {"Id": "s2", "ParentId": "s1", "Labels": {"k": "b"}, "RepoTags": ["stage:2"]},
        {"Id": "final", "ParentId": "s2", "Labels": {"k": "", "p": "x"}, "RepoTags": ["img:latest"]},
        {"Id": "s3", "ParentId": "s1", "Labels": {"k": "c"}, "RepoTags": ["stage:3"]},   # an abandoned branch
        {"Id": "base", "ParentId": "", "Labels": {}, "RepoTags": ["base:latest"]},
    ]
    assert manylinux_unused_stages(images, "k", "p") == ["stage:3"]
    # an untagged (superseded) final image keeps nothing
    untagged = [dict(i, RepoTags=[]) if i["Id"] == "final" else i for i in images]
    assert manylinux_unused_stages(untagged, "k", "p") == ["stage:1", "stage:2", "stage:3"]
    # without the final image, every stage is unused
    assert manylinux_unused_stages([i for i in images if i["Id"] != "final"], "k", "p") == \
        ["stage:1", "stage:2", "stage:3"]


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


def test_stages_a_container_uses_are_kept():
    from manylinux import manylinux_unused_stages
    images = [
        {"Id": "s1", "ParentId": "base", "Labels": {"k": "a"}, "RepoTags": ["stage:1"]},
        {"Id": "s2", "ParentId": "s1", "Labels": {"k": "b"}, "RepoTags": ["stage:2"]},
        {"Id": "s3", "ParentId": "base", "Labels": {"k": "c"}, "RepoTags": ["stage:3"]},
    ]
    # a build running now in a container of s2 keeps s2 and what it is built on
    assert manylinux_unused_stages(images, "k", "p", ["s2", "unrelated"]) == ["stage:3"]
    assert manylinux_unused_stages(images, "k", "p") == ["stage:1", "stage:2", "stage:3"]
