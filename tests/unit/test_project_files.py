"""Project files other than roles: the CI workflow and the execution environment."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

BIN = os.path.dirname(sys.executable)
WORKFLOW = os.path.join(ROOT, ".github", "workflows", "build.yml")


def tool(name):
    path = os.path.join(BIN, name)
    return path if os.path.exists(path) else shutil.which(name)


def test_workflow_matches_github_schema():
    proc = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", WORKFLOW],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _ci_matrices():
    """What scripts/ci-matrix writes to $GITHUB_OUTPUT: {build: ..., manifests: ...}."""
    out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "ci-matrix")], capture_output=True, text=True,
                         check=True).stdout
    return {line.split("=", 1)[0]: json.loads(line.split("=", 1)[1]) for line in out.splitlines()}


def test_workflow_builds_the_seed_matrix_and_deploys_only_from_the_default_branch():
    with open(WORKFLOW) as handle:
        workflow = yaml.safe_load(handle)
    # the matrices are the policy table's (ci_runner), made by the lint job
    assert workflow["jobs"]["build"]["strategy"]["matrix"] == "${{ fromJSON(needs.lint.outputs.build) }}"
    assert workflow["jobs"]["manifests"]["strategy"]["matrix"] == "${{ fromJSON(needs.lint.outputs.manifests) }}"
    assert any("scripts/ci-matrix" in step.get("run", "") and ">> \"$GITHUB_OUTPUT\"" in step["run"]
               for step in workflow["jobs"]["lint"]["steps"])
    matrices = _ci_matrices()
    pairs = {(e["policy"], e["arch"]) for e in matrices["build"]["include"]}
    assert pairs == {(p, a) for p in ("manylinux2014", "manylinux_2_28", "musllinux_1_2")
                     for a in ("x86_64", "aarch64")} | {("manylinux_2_31", "armv7l")}
    runners = {e["arch"]: e["runner"] for e in matrices["build"]["include"]}
    assert runners == {"x86_64": "ubuntu-24.04", "aarch64": "ubuntu-24.04-arm", "armv7l": "ubuntu-24.04-arm"}
    steps = workflow["jobs"]["build"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any("playbooks/build.yml" in r for r in runs)
    build = [r for r in runs if "playbooks/build.yml" in r][0]
    assert "-e build_artifact_registry=ghcr.io/${IMAGE_OWNER,,}/manylinux-shared-cache-${{ matrix.policy }}_${{ matrix.arch }}" \
        in build
    login = [i for i, r in enumerate(runs) if "docker login ghcr.io" in r]
    assert login and login[0] < runs.index(build), "logged in to the shared artifact cache before the build"
    assert any("pytest" in r and "tests/image" in r for r in runs)
    push = [s for s in steps if "publish.yml" in s.get("run", "")]
    assert push and "default_branch" in push[0]["if"]
    assert "default_branch" in workflow["jobs"]["manifests"]["if"]


def test_workflow_broken_is_caught(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n")
    proc = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken)],
                          capture_output=True, text=True)
    assert proc.returncode != 0


def test_ansible_builder_makes_a_build_context(tmp_path):
    context = tmp_path / "context"
    proc = subprocess.run([tool("ansible-builder"), "create", "-f", os.path.join(ROOT, "execution-environment.yml"),
                           "-c", str(context), "--output-filename", "Containerfile"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (context / "Containerfile").read_text()
    assert "FROM" in containerfile and "ansible-core==2.19.14" in containerfile
    build = context / "_build"
    assert (build / "requirements.yml").read_text() == open(os.path.join(ROOT, "requirements.yml")).read()
    assert "docker==7.2.0" in (build / "requirements.txt").read_text()
    assert "docker-cli" in (build / "bindep.txt").read_text()
    assert (build / "configs" / "ansible.cfg").is_file()


def test_the_image_tests_read_no_build_configuration():
    """The verifier names the image and what it was built for, nothing of the build's configuration (the
    image tests read what the image holds from the image); nor do the image tests read the roles' defaults,
    the group_vars or a vars file."""
    with open(os.path.join(ROOT, "molecule", "default", "molecule.yml")) as handle:
        env = yaml.safe_load(handle)["verifier"]["env"]
    assert set(env) == {"MANYLINUX_IMAGE", "MANYLINUX_POLICY", "MANYLINUX_ARCH", "MANYLINUX_BUILD_ID",
                        "MANYLINUX_NEWER_IMAGE"}
    image_tests = os.path.join(ROOT, "tests", "image")
    for name in sorted(os.listdir(image_tests)):
        if name.endswith(".py"):
            text = open(os.path.join(image_tests, name)).read()
            for word in ("MANYLINUX_BUILD_VARS", '"defaults"', "defaults/main.yml", '"group_vars"', "group_vars/",
                         "policies.yml", "yaml.safe_load", "offline.yml"):
                assert word not in text, "%s reads %s" % (name, word)


def _workflow():
    with open(os.path.join(ROOT, ".github", "workflows", "build.yml")) as handle:
        return yaml.safe_load(handle)


def test_every_matrix_entry_of_the_workflow_is_a_policy_and_arch_of_the_table():
    with open(os.path.join(ROOT, "inventories", "default", "group_vars", "all", "policies.yml")) as handle:
        table = yaml.safe_load(handle)["build_policy_table"]
    matrices = _ci_matrices()
    pairs = [(entry["policy"], [entry["arch"]]) for entry in matrices["build"]["include"]]
    built_count = len(pairs)
    pairs += [(entry["policy"], json.loads(entry["arches"])) for entry in matrices["manifests"]["include"]]
    assert pairs
    wrong = ["%s/%s" % (policy, arch) for policy, arches in pairs for arch in arches
             if policy not in table or arch not in table[policy]["arches"]]
    assert wrong == []
    # every image built is assembled into a manifest list, and no list names an image not built
    built = {(policy, arches[0]) for policy, arches in pairs[:built_count]}
    listed = {(policy, arch) for policy, arches in pairs[built_count:] for arch in arches}
    assert built == listed


def test_the_workflow_names_no_list_of_versions():
    text = open(os.path.join(ROOT, ".github", "workflows", "build.yml")).read()
    assert "MANYLINUX_INTERPRETERS" not in text and "MANYLINUX_SHARED_VERSIONS" not in text


# Downloads whose pins cannot be read from this machine (no access to the Fedora
# archive or to copr): the CentOS 7 repository files. Named here, so that any
# other unpinned download fails the test below.
UNPINNED_URLS = {
    "https://archives.fedoraproject.org/pub/archive/epel/7/x86_64/Packages/e/epel-release-7-14.noarch.rpm",
    "https://copr.fedorainfracloud.org/coprs/mayeut/devtoolset-10/repo/custom-1/mayeut-devtoolset-10-custom-1.repo",
}


def _tracked(*patterns):
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True)
    return [os.path.join(ROOT, path) for path in out.stdout.split()]


def _urls_in(node):
    """(url, the mapping holding it) for every URL value in a YAML tree."""
    if isinstance(node, dict):
        for value in node.values():
            if isinstance(value, str) and re.match(r"https?://", value):
                yield value, node
            else:
                yield from _urls_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _urls_in(value)


# Variables whose URL is no download of its own: an image label; the package
# index (what comes from it is pinned by the requirement files' hashes); the
# archives offline bases are bootstrapped from (debootstrap checks their
# signed Release files, test_debootstrap_checks_the_archive_signature).
# base URLs, not downloads: what the clang command fetches from its base is pinned by
# toolchain_clang_versions (the sha256 of each release's sha256sums.txt)
# the signer table's URLs are OIDC issuers, names in a certificate
NOT_DOWNLOADED = {"build_image_source", "build_pip_index_url", "build_offline_bases", "toolchain_clang_base_url",
                  "build_sigstore_signers"}


def test_every_url_in_the_data_is_pinned_by_sha256():
    unpinned = []
    for path in _tracked("roles/*/vars/*.yml", "roles/*/defaults/*.yml", "inventories/*.yml", "inventories/**/*.yml"):
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
        data = {key: value for key, value in data.items() if key not in NOT_DOWNLOADED}
        for url, holder in _urls_in(data):
            if not re.fullmatch(r"[0-9a-f]{64}", str(holder.get("sha256", ""))) and url not in UNPINNED_URLS:
                unpinned.append("%s: %s" % (os.path.relpath(path, ROOT), url))
    assert unpinned == []


def test_controller_requirements_are_installed_by_hash():
    with open(os.path.join(ROOT, "requirements.txt")) as handle:
        text = handle.read()
    # each requirement (a line that does not continue a previous one) is NAME==VERSION followed by hashes
    requirements = re.split(r"(?<!\\)\n", text)
    pins = [r for r in requirements if r.strip() and not r.lstrip().startswith("#")]
    assert pins
    for pin in pins:
        assert re.match(r"[A-Za-z0-9._-]+==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}", pin), pin
    with open(os.path.join(ROOT, "scripts", "setup")) as handle:
        installs = [line for line in handle if re.search(r"\bpip install\b", line)]
    assert installs and all("--require-hashes" in line for line in installs), installs


def test_pip_installs_in_the_build_require_hashes():
    offenders = []
    for path in _tracked("roles/*.yml", "roles/**/*.yml", "playbooks/*.yml", "playbooks/**/*.yml", "Makefile"):
        with open(path) as handle:
            text = handle.read()
        for match in re.finditer(r"pip install\b[^\n]*", text):
            line = match.group(0)
            if "--require-hashes" not in line and "__python_tools_pip_options" not in line:
                offenders.append("%s: %s" % (os.path.relpath(path, ROOT), line))
    assert offenders == []


def test_actions_collections_and_the_execution_environment_are_pinned():
    with open(WORKFLOW) as handle:
        uses = re.findall(r"uses:\s*(\S+)", handle.read())
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref) for ref in uses), uses
    with open(os.path.join(ROOT, "requirements.yml")) as handle:
        collections = yaml.safe_load(handle)["collections"]
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", str(c["version"])) for c in collections), collections
    with open(os.path.join(ROOT, "execution-environment.yml")) as handle:
        ee = yaml.safe_load(handle)["dependencies"]
    pip_pins = [ee["ansible_core"]["package_pip"], ee["ansible_runner"]["package_pip"], *ee["python"]]
    assert all(re.fullmatch(r"[\w.-]+==[\w.]+", pin) for pin in pip_pins), pip_pins


def test_debootstrap_checks_the_archive_signature():
    with open(os.path.join(ROOT, "playbooks", "base.yml")) as handle:
        text = handle.read()
    assert "--force-check-gpg" in text and "--keyring={{ __base_keyring }}" in text
    with open(os.path.join(ROOT, "inventories", "default", "group_vars", "all", "policies.yml")) as handle:
        bases = yaml.safe_load(handle)["build_offline_bases"]
    assert all(base["keyring"].startswith("/usr/share/keyrings/") for base in bases.values())


def test_the_workflows_are_valid_github_workflows(tmp_path):
    """The schema of GitHub workflows (check-jsonschema's vendored copy: no network), and that it catches a bad one."""
    tool = os.path.join(os.path.dirname(sys.executable), "check-jsonschema")
    workflows = sorted(glob.glob(os.path.join(ROOT, ".github", "workflows", "*.yml")))
    assert workflows
    proc = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", *workflows],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(open(workflows[0]).read().replace("runs-on:", "runs_on:", 1))
    proc = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", str(broken)],
                          capture_output=True, text=True)
    assert proc.returncode != 0


def test_no_virtualenv_or_cache_is_part_of_the_repository():
    # a symlinked .venv once slipped in, and a checkout then replaced the real one with it
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert not [path for path in tracked if path.split("/")[0] in (".venv", ".ansible", ".cache")], tracked


def test_the_libstdcxx_script_fix_is_upstreams_and_idempotent():
    """pypa/manylinux#1760: the toolset's libstdc++.so names the system library again, once."""
    with open(os.path.join(ROOT, "roles", "toolchain", "tasks", "main.yml")) as handle:
        task = [t for t in yaml.safe_load(handle) if "ansible.builtin.replace" in t][0]["ansible.builtin.replace"]
    script = ("/* GNU ld script */\nOUTPUT_FORMAT(elf64-x86-64)\n"
              "INPUT ( /usr/lib64/libstdc++.so.6 -lstdc++_nonshared )\n")
    fixed = re.sub(task["regexp"], task["replace"], script)
    assert "INPUT ( /usr/lib64/libstdc++.so.6 -lstdc++_nonshared /usr/lib64/libstdc++.so.6 )" in fixed
    assert re.sub(task["regexp"], task["replace"], fixed) == fixed


ENTRYPOINT = os.path.join(ROOT, "playbooks", "lifecycle", "files", "manylinux-entrypoint")


@pytest.mark.parametrize("arch, kernel, personality, expected", [
    ("x86_64", "x86_64", "i686", "direct x86_64 -"),
    ("i686", "x86_64", "i686", "linux32 i686 -"),
    # qemu-arm on an x86_64 host: uname says armv7l already
    ("armv7l", "armv7l", "armv7l", "direct armv7l -"),
    # an arm64 kernel (GitHub's arm64 runners): linux32, and CPython told its platform
    ("armv7l", "aarch64", "armv8l", "linux32 armv8l linux-armv7l"),
    ("armv7l", "aarch64", "armv7l", "linux32 armv7l -"),
])
def test_the_entrypoint_reports_the_images_architecture(tmp_path, arch, kernel, personality, expected):
    """The entrypoint's choices, with uname and linux32 of a given kernel on PATH (this host has one kernel)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uname").write_text('#!/bin/sh\necho "${FAKE_MACHINE}"\n')
    (bin_dir / "linux32").write_text('#!/bin/sh\nFAKE_MACHINE=%s VIA=linux32 exec "$@"\n' % personality)
    for tool in ("uname", "linux32"):
        os.chmod(bin_dir / tool, 0o755)
    env = dict(os.environ, PATH="%s:%s" % (bin_dir, os.environ["PATH"]), AUDITWHEEL_ARCH=arch, FAKE_MACHINE=kernel)
    env.pop("_PYTHON_HOST_PLATFORM", None)
    out = subprocess.run(["sh", ENTRYPOINT, "sh", "-c", 'echo "${VIA:-direct} $(uname -m) ${_PYTHON_HOST_PLATFORM:--}"'],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == expected


def _tasks_of(node):
    """Every task of a task file, blocks opened."""
    for task in node or []:
        if isinstance(task, dict):
            yield task
            for key in ("block", "rescue", "always"):
                yield from _tasks_of(task.get(key))


@pytest.mark.parametrize("role", sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "roles", "*"))))
def test_a_role_names_its_internals_with_its_internal_prefix(role):
    """docs/DESIGN.md, "Names": what a role keeps to itself (its vars/ data, what it registers, its loop
    variables, facts it sets for itself) is __<role>_*; a fact it sets without the prefix is one of
    its documented return facts, <role>_*; Ansible's own connection variables (ansible_docker_extra_args:
    the engine a component's container is on) are Ansible's names."""
    internal, public = "__%s_" % role, "%s_" % role
    wrong = []
    for path in glob.glob(os.path.join(ROOT, "roles", role, "vars", "*.yml")):
        with open(path) as handle:
            wrong += ["%s: %s" % (os.path.basename(path), k) for k in (yaml.safe_load(handle) or {})
                      if not k.startswith(internal)]
    for path in glob.glob(os.path.join(ROOT, "roles", role, "tasks", "*.yml")):
        with open(path) as handle:
            tasks = list(_tasks_of(yaml.safe_load(handle)))
        for task in tasks:
            names = [task.get("register"), (task.get("loop_control") or {}).get("loop_var")]
            wrong += ["%s: %s" % (os.path.basename(path), n) for n in names if n and not n.startswith(internal)]
            facts = task.get("ansible.builtin.set_fact") or {}
            wrong += ["%s: %s" % (os.path.basename(path), n) for n in facts
                      if not n.startswith((internal, public, "ansible_docker_"))]
    assert wrong == []


def _role_variables(role):
    """(the variables of defaults/main.yml, {option: [its spec in each entry point]}, README text)."""
    base = os.path.join(ROOT, "roles", role)
    with open(os.path.join(base, "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle) or {}
    with open(os.path.join(base, "meta", "argument_specs.yml")) as handle:
        specs = (yaml.safe_load(handle) or {}).get("argument_specs") or {}
    options = {}
    for spec in specs.values():
        for name, option in ((spec or {}).get("options") or {}).items():
            options.setdefault(name, []).append(option)
    with open(os.path.join(base, "README.md")) as handle:
        readme = handle.read()
    return defaults, options, readme


ROLES_WITH_DEFAULTS = sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
                             for p in glob.glob(os.path.join(ROOT, "roles", "*", "defaults", "main.yml"))
                             if not os.path.islink(os.path.dirname(p)))


@pytest.mark.parametrize("role", ROLES_WITH_DEFAULTS)
def test_a_variable_is_described_once_and_declared_where_it_is_read(role):
    """A public variable's value and its comment are in defaults/main.yml, its one home; the argument
    specs declare it (type, short description) and give no default of their own; the README names
    no variable that is gone."""
    defaults, options, readme = _role_variables(role)
    assert sorted(set(defaults) - set(options)) == [], "in defaults/main.yml, declared by no entry point"
    assert sorted(name for name in set(options) - set(defaults)
                  if not any(option.get("required") for option in options[name])) == [], \
        "declared, and neither in defaults/main.yml nor required"
    assert sorted(name for name in options if name in defaults
                  if any("default" in option for option in options[name])) == [], \
        "a second default in the argument specs: defaults/main.yml has the value"
    tasks = " ".join(open(p).read() for p in glob.glob(os.path.join(ROOT, "roles", role, "tasks", "*.yml")))
    named = set(re.findall(r"\b%s_[a-z0-9_]+" % role, readme))
    assert sorted(n for n in named if n not in defaults and n not in options and n not in tasks) == [], \
        "the README names variables the role does not have"
    # a README table's default, where it is one literal, is the value of defaults/main.yml (but the
    # versions, which the pin updater moves in defaults/main.yml only)
    rows = re.findall(r"^\| `(%s_[a-z0-9_]+)` \| `([^`|]*)` \|" % role, readme, re.M)
    assert sorted((name, cell) for name, cell in rows if not name.endswith(("_version", "_versions"))
                  and yaml.safe_load(cell) != defaults.get(name)) == [], "a README default that is not the role's"
