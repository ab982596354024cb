"""Every policy's component table plans: the data of the policies this machine cannot build
(no registry for their bases) is declared and planned as a build would, with no container, and
what upstream does differently on a policy shows in its plan."""

import json
import os

import pytest
import yaml

from conftest import ROOT, ansible_playbook

with open(os.path.join(ROOT, "inventories", "default", "group_vars", "all", "policies.yml")) as _handle:
    _POLICIES = yaml.safe_load(_handle)
_TABLE = _POLICIES["build_policy_table"]
with open(os.path.join(ROOT, "roles", "toolchain", "defaults", "main.yml")) as _handle:
    _TOOLCHAIN = yaml.safe_load(_handle)
# in CI, a pair of each base family this machine cannot build (about 20 s each);
# every pair of the table with the long tests
FIRST_ARCH = [("manylinux2014", "x86_64"), ("manylinux_2_28", "aarch64"), ("musllinux_1_2", "x86_64")]
EVERY_PAIR = [(policy, arch) for policy, entry in sorted(_TABLE.items()) for arch in sorted(entry["arches"])]


def plans(tmp_path, pairs):
    output = tmp_path / "plans.json"
    targets = [{"policy": p, "arch": a} for p, a in pairs]
    run = ansible_playbook("tests/integration/playbooks/plan_components.yml",
                           "-e", json.dumps({"plan_targets": targets, "build_artifact_cache": str(tmp_path / "cache"),
                                             "plan_output": str(output)}))
    assert run.rc == 0, run.output[-3000:]
    found = json.loads(output.read_text())
    return {key: {c["name"]: c for c in components} for key, components in found.items()}


@pytest.fixture(scope="module")
def first_arch_plans(tmp_path_factory):
    return plans(tmp_path_factory.mktemp("plans"), FIRST_ARCH)


def test_the_data_only_policies_plan(first_arch_plans):
    assert sorted(first_arch_plans) == sorted("%s_%s" % pair for pair in FIRST_ARCH)
    for key, components in first_arch_plans.items():
        assert {"openssl", "sqlite3", "mpdecimal", "zstd", "python-tools"} <= set(components), key


@pytest.mark.long
def test_every_pair_plans(tmp_path):
    found = plans(tmp_path, EVERY_PAIR)
    assert sorted(found) == sorted("%s_%s" % pair for pair in EVERY_PAIR)
    check_per_policy_data({key: found[key] for key in found})
    check_openssl_per_policy(found)


def fact(policy, key):
    """A policy's fact as build_target has it: its own entry's, else build_policy_defaults'."""
    return _TABLE[policy].get(key, _POLICIES["build_policy_defaults"][key])


def check_per_policy_data(found):
    for key, components in found.items():
        policy = key.rsplit("_", 1)[0] if not key.endswith("_x86_64") else key[:-len("_x86_64")]
        # libxcrypt on yum bases only (manylinux2014), as upstream's install-libxcrypt.sh
        assert ("libxcrypt" in components) == (policy == "manylinux2014") == fact(policy, "libxcrypt"), key
        # sqlite3.pc into /usr/local/lib/pkgconfig where upstream's build-sqlite3.sh links it
        linked = "pc-link" in [s["name"] for s in components["sqlite3"]["steps"]]
        assert linked == fact(policy, "sqlite_pc_link") == (policy in {"manylinux2014", "manylinux_2_28", "musllinux_1_2"}), key
        # Tcl/Tk in /usr/local as well where upstream's build-tcltk.sh puts it (manylinux2014)
        for name in ("tcl", "tk"):
            steps = {s["name"]: s["cmd"] for s in components[name]["steps"]}
            assert ("link" in steps) == fact(policy, "tcltk_usr_local") == (policy == "manylinux2014"), key
            if "link" in steps:
                assert "/usr/local/lib/pkgconfig/%s.pc" % name in steps["link"], key
        # git everywhere with upstream's make variables; libcurl for it (linked against the
        # private OpenSSL) on manylinux2014 only, as upstream's build-git.sh / build-curl.sh
        git = dict(option.split("=", 1) for option in components["git"]["options"])
        assert git["prefix"] == "/usr/local" and git["NO_GETTEXT"] == "1", key
        assert git["CSPRNG_METHOD"] == ("urandom" if policy == "manylinux2014" else "getrandom"), key
        assert ("NO_UNCOMPRESS2" in git) == (policy == "manylinux2014"), key
        assert ("NO_REGEX" in git) == policy.startswith("musllinux"), key
        # git-lfs: the release binary of the arch's Go name (upstream's install-git-lfs.sh)
        arch = key[len(policy) + 1:]
        goarch = {"x86_64": "amd64", "i686": "386", "aarch64": "arm64", "armv7l": "arm"}.get(arch, arch)
        lfs_sources = [source["key"] for source in components["git-lfs"]["sources"]]
        assert lfs_sources == ["git-lfs-linux-%s-%s" % (goarch, _TOOLCHAIN["toolchain_git_lfs_version"])], key
        curl = fact(policy, "git_curl")
        assert curl == (policy == "manylinux2014"), key
        assert ("curl" in components) == curl == (components["git"]["needs"] == ["curl"]), key
        if curl:
            assert components["curl"]["needs"] == ["openssl"], key
            assert components["git"]["environment"]["CURLDIR"] == _TOOLCHAIN["toolchain_curl_prefix"], key


def check_openssl_per_policy(found):
    for key, components in found.items():
        policy = key.rsplit("_", 1)[0] if not key.endswith("_x86_64") else key[:-len("_x86_64")]
        private = _TABLE[policy]["openssl"] == "private"
        for name, component in components.items():
            if not name.startswith(("cpython-", "shared-cpython-")) or name.endswith(("-pip", "-wrappers")):
                continue
            # /opt/python: the OpenSSL upstream links for the policy; the shared CPythons: always openssl35's
            linked = "openssl" in component["needs"]
            assert linked == (private or name.startswith("shared-")), (key, name)
            assert any(o.startswith("--with-openssl=") for o in component["options"]) == linked, (key, name)


def test_opt_python_links_the_openssl_upstream_links(first_arch_plans):
    check_openssl_per_policy(first_arch_plans)


def test_what_upstream_does_per_policy_shows_in_the_plans(first_arch_plans):
    check_per_policy_data(first_arch_plans)


def test_cpython_before_3_13_gets_nothing_of_mpdecimal(first_arch_plans):
    for key, components in first_arch_plans.items():
        for name, component in components.items():
            if not name.startswith("cpython-") or name.endswith("-pip"):
                continue
            flags = " ".join(component["environment"].values())
            system = "--with-system-libmpdec" in component["options"]
            if tuple(int(x) for x in component["version"].split(".")[:2]) < (3, 13):
                assert "mpdecimal" not in flags and not system, (key, name)
            else:
                assert "mpdecimal" in flags and system, (key, name)
