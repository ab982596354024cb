"""The policy table (data) and the filters that read it."""

import copy

import pytest
from manylinux_policy import AnsibleFilterError, manylinux_target, manylinux_target_error
from manylinux_references import manylinux_pull_reference
from manylinux_image_ref import parse as parse_reference

REQUIRED = {"os", "os_family", "package_manager", "libc", "openssl", "base_image", "devtoolset_root",
            "path_prepend", "ld_library_path_prepend", "bootstrap", "arches"}
# What manylinux publishes (and manylinux_2_31 x86_64/aarch64, built here on Debian 11).
EXPECTED_ARCHES = {
    "manylinux2014": {"x86_64", "i686", "aarch64", "ppc64le", "s390x"},
    "manylinux_2_28": {"x86_64", "aarch64", "ppc64le", "s390x"},
    "manylinux_2_31": {"armv7l", "x86_64", "aarch64"},
    "manylinux_2_34": {"x86_64", "aarch64", "ppc64le", "s390x"},
    "manylinux_2_39": {"x86_64", "aarch64", "ppc64le", "s390x", "riscv64"},
    "musllinux_1_2": {"x86_64", "i686", "aarch64", "ppc64le", "s390x", "armv7l", "riscv64"},
}


# What upstream's scripts do differently, by policy (the policy table's facts beside
# build_policy_defaults): the policies that differ, the rest take the default.
EXPECTED_FACTS = {
    "libxcrypt": {"manylinux2014": True},
    "git_curl": {"manylinux2014": True},
    "git_make_vars": {"manylinux2014": {"NO_UNCOMPRESS2": "1", "CSPRNG_METHOD": "urandom"},
                      "musllinux_1_2": {"NO_REGEX": "NeedsStartEnd"}},
    "sqlite_pc_link": {"manylinux2014": True, "manylinux_2_28": True, "musllinux_1_2": True},
    "tcltk_usr_local": {"manylinux2014": True},
    "libstdcxx_script_fix": {"manylinux_2_28": True, "manylinux_2_34": True},
    "locale_archive_rebuild": {"manylinux2014": True},
    "cpython_environment": {"manylinux2014": {"TCLTK_LIBS": "-ltk8.6 -ltcl8.6"}},
    "no_wheels": {},
}
# Facts of one arch of a policy: (policy, arch) -> {key: value}.
EXPECTED_ARCH_FACTS = {("musllinux_1_2", "ppc64le"): {"no_wheels": ["uv"]},
                       ("musllinux_1_2", "s390x"): {"no_wheels": ["uv"]}}


def target(policies, policy, arch):
    return manylinux_target(policies["build_policy_table"], policy, arch, policies["build_arch_table"],
                            policies["build_policy_defaults"])


def test_every_policy_fact_has_a_default(policies):
    assert set(policies["build_policy_defaults"]) == set(EXPECTED_FACTS)


@pytest.mark.parametrize("policy", sorted(EXPECTED_ARCHES))
def test_policy_facts_are_upstreams(policies, policy):
    """Each policy's facts in build_target: its own where it differs, the default elsewhere."""
    for arch in EXPECTED_ARCHES[policy]:
        t = target(policies, policy, arch)
        for key, values in EXPECTED_FACTS.items():
            expected = EXPECTED_ARCH_FACTS.get((policy, arch), {}).get(
                key, values.get(policy, policies["build_policy_defaults"][key]))
            assert t[key] == expected, (policy, arch, key)


def test_an_entry_s_fact_wins_over_the_default():
    table = {"p": {"os": "x", "libxcrypt": True, "arches": {"x86_64": {"git_curl": True}}}}
    t = manylinux_target(table, "p", "x86_64", {"x86_64": {}}, {"libxcrypt": False, "git_curl": False, "tcl": False})
    assert (t["libxcrypt"], t["git_curl"], t["tcl"]) == (True, True, False)


def test_every_key_of_an_entry_is_known(policies):
    """A misspelt fact would silently take the default: every key is REQUIRED, a fact or documented."""
    known = REQUIRED | set(policies["build_policy_defaults"]) | {"glibc", "musl", "upstream", "base_image"}
    for policy, entry in policies["build_policy_table"].items():
        assert set(entry) <= known, (policy, set(entry) - known)
        for arch, overrides in entry["arches"].items():
            assert set(overrides or {}) <= known | {"ci_runner"}, (policy, arch)


def test_every_policy_is_declared(policies):
    assert set(policies["build_policy_table"]) == set(EXPECTED_ARCHES)


@pytest.mark.parametrize("policy", sorted(EXPECTED_ARCHES))
def test_policy_entries_are_complete(policies, policy):
    entry = policies["build_policy_table"][policy]
    assert REQUIRED <= set(entry), REQUIRED - set(entry)
    assert set(entry["arches"]) == EXPECTED_ARCHES[policy]
    assert entry["package_manager"] in policies["build_package_managers"]
    assert entry["bootstrap"]["packages"] and entry["bootstrap"]["interpreter"].startswith("/")
    assert entry["os_family"] in {"Debian", "RedHat", "Alpine"}
    assert entry["libc"] == ("musl" if policy.startswith("musllinux") else "glibc")
    # upstream builds its own OpenSSL only where the base's is older than 1.1.1 (CentOS 7's 1.0.2)
    assert entry["openssl"] == ("private" if policy == "manylinux2014" else "system")


@pytest.mark.parametrize("policy", sorted(EXPECTED_ARCHES))
def test_devtoolset_comes_first_on_path(policies, policy):
    entry = policies["build_policy_table"][policy]
    if entry["devtoolset_root"]:
        assert entry["devtoolset_root"] + "/usr/bin" in entry["path_prepend"]
        assert all(p.startswith(entry["devtoolset_root"]) or p.startswith("/usr/local")
                   for p in entry["ld_library_path_prepend"])


def test_every_pair_resolves(policies):
    for policy, arches in EXPECTED_ARCHES.items():
        for arch in arches:
            t = target(policies, policy, arch)
            assert t["policy"] == policy and t["arch"] == arch
            assert t["platform_tag"] == "%s_%s" % (policy, arch)
            assert t["platform"].startswith("linux/")
            assert "arches" not in t


def test_arch_entry_overrides_policy(policies):
    i686 = target(policies, "manylinux2014", "i686")
    x86_64 = target(policies, "manylinux2014", "x86_64")
    assert i686["ld_library_path_prepend"] != x86_64["ld_library_path_prepend"]
    assert all("lib64" not in p for p in i686["ld_library_path_prepend"])
    assert target(policies, "manylinux_2_31", "x86_64")["upstream"] is False
    assert target(policies, "manylinux_2_31", "armv7l")["upstream"] is True


def test_unknown_policy_lists_valid_policies(policies):
    with pytest.raises(AnsibleFilterError) as err:
        target(policies, "bogus", "x86_64")
    message = str(err.value)
    assert "unknown policy 'bogus'" in message
    for policy in EXPECTED_ARCHES:
        assert policy in message


def test_unknown_arch_lists_valid_arches(policies):
    with pytest.raises(AnsibleFilterError) as err:
        target(policies, "manylinux_2_28", "mips")
    assert "unknown arch 'mips'" in str(err.value)
    assert "riscv64" in str(err.value) and "x86_64" in str(err.value)


def test_unsupported_pair_names_what_would_work(policies):
    message = manylinux_target_error(policies["build_policy_table"], "manylinux_2_28", "i686",
                                     policies["build_arch_table"])
    assert message.startswith("unsupported pair: manylinux_2_28 has no i686")
    assert "aarch64, ppc64le, s390x, x86_64" in message
    assert "manylinux2014" in message and "musllinux_1_2" in message


@pytest.mark.parametrize("policy,arch", [("", "x86_64"), ("manylinux2014", "")])
def test_missing_choice_is_an_error(policies, policy, arch):
    assert manylinux_target_error(policies["build_policy_table"], policy, arch, policies["build_arch_table"])


def test_valid_pair_has_no_error(policies):
    assert manylinux_target_error(policies["build_policy_table"], "musllinux_1_2", "armv7l",
                                  policies["build_arch_table"]) == ""


def test_armv7l_on_an_arm64_host_asks_for_emulation(policies):
    """Many arm64 CPUs have no AArch32 (GitHub's arm64 runners): an aarch64 host is not taken to run armv7l."""
    assert policies["build_arch_table"]["armv7l"]["native_on"] == ["armv7l"]


@pytest.mark.parametrize("policy", sorted(EXPECTED_ARCHES))
def test_every_base_image_is_a_tag_or_a_tag_pinned_by_digest(policies, policy):
    """What the pin updater (manylinux_base_pins) reads and writes: name:tag, or name:tag@sha256:<hex>."""
    entry = policies["build_policy_table"][policy]
    images = [entry["base_image"]] + [a["base_image"] for a in entry["arches"].values() if a and "base_image" in a]
    for image in images:
        ref = parse_reference(image)
        assert ref.tag, "%s: %s has no tag for the pin updater to resolve" % (policy, image)
        assert manylinux_pull_reference(image) == (ref.name + "@" + ref.digest if ref.digest else image)


def test_a_pinned_base_image_is_taken_as_it_is(policies):
    pinned = "quay.io/pypa/manylinux2014_base:2025.11.10-3@sha256:" + "a" * 64
    table = copy.deepcopy(policies["build_policy_table"])
    table["manylinux2014"]["base_image"] = pinned
    t = manylinux_target(table, "manylinux2014", "x86_64", policies["build_arch_table"])
    assert t["base_image"] == pinned
    assert manylinux_pull_reference(t["base_image"]) == "quay.io/pypa/manylinux2014_base@sha256:" + "a" * 64


def test_no_role_names_a_policy(policies):
    """docs/DESIGN.md, "Roles": a policy's facts are the policy table's, read as build_target.<key>;
    no role file names a policy or asks build_target.policy."""
    import glob
    import os
    from conftest import ROOT
    names = sorted(policies["build_policy_table"]) + ["build_target.policy"]
    found = []
    for path in glob.glob(os.path.join(ROOT, "roles", "**", "*"), recursive=True):
        # factory_defaults' defaults are the inventory's group_vars (a symlink): the table itself
        if os.path.isfile(path) and os.path.realpath(path).startswith(os.path.realpath(os.path.join(ROOT, "roles")) + os.sep):
            with open(path, errors="replace") as handle:
                text = handle.read()
            found += ["%s: %s" % (os.path.relpath(path, ROOT), name) for name in names if name in text]
    assert found == []
