"""Project files other than roles: the CI workflow and the execution environment."""

import os
import shutil
import subprocess
import sys

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


def test_workflow_builds_the_seed_matrix_and_deploys_only_from_the_default_branch():
    with open(WORKFLOW) as handle:
        workflow = yaml.safe_load(handle)
    pairs = {(e["policy"], e["arch"]) for e in workflow["jobs"]["build"]["strategy"]["matrix"]["include"]}
    assert pairs == {(p, a) for p in ("manylinux2014", "manylinux_2_28", "musllinux_1_2")
                     for a in ("x86_64", "aarch64")} | {("manylinux_2_31", "armv7l")}
    steps = workflow["jobs"]["build"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any("playbooks/build.yml" in r for r in runs)
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


def test_molecule_checks_the_interpreters_it_builds():
    """The verifier's MANYLINUX_INTERPRETERS names exactly the test configuration's interpreters."""
    with open(os.path.join(ROOT, "tests", "offline.yml")) as handle:
        versions = yaml.safe_load(handle)["interpreters_versions"]
    with open(os.path.join(ROOT, "molecule", "default", "molecule.yml")) as handle:
        env = yaml.safe_load(handle)["verifier"]["env"]
    built = sorted(entry["version"] + ("t" if entry.get("free_threading") else "") for entry in versions)
    assert sorted(env["MANYLINUX_INTERPRETERS"].split(",")) == built
