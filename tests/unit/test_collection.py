"""The repository as the collection manylinux_shared.factory: metadata, plugin docs, FQCN names."""

import ast
import glob
import importlib
import inspect
import json
import os
import subprocess
import sys

import yaml
from ansible.module_utils.compat.version import LooseVersion
from ansible.release import __version__ as ANSIBLE_CORE

from conftest import ROOT

FQCN = "manylinux_shared.factory"
BIN = os.path.dirname(sys.executable)
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py")))
FILTER_FILES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "filter", "*.py")))


# {filter file: {filter: function}}; plugins/filter is on sys.path (conftest)
FILTERS_BY_FILE = {name: importlib.import_module(name).FilterModule().filters() for name in FILTER_FILES}
FILTERS = {name: function for filters in FILTERS_BY_FILE.values() for name, function in filters.items()}


def load(path):
    with open(os.path.join(ROOT, path)) as handle:
        return yaml.safe_load(handle)


def module_docs(name):
    with open(os.path.join(ROOT, "plugins", "modules", name + ".py")) as handle:
        tree = ast.parse(handle.read())
    return {node.targets[0].id: yaml.safe_load(node.value.value) for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN")}


def test_galaxy_metadata_names_the_collection_and_leaves_the_tests_out():
    galaxy = load("galaxy.yml")
    assert (galaxy["namespace"], galaxy["name"]) == tuple(FQCN.split("."))
    assert galaxy["license"] == ["MIT"]
    for ignored in ("tests", "molecule", ".venv", "collections", ".cache"):
        assert ignored in galaxy["build_ignore"]
    requirements = {c["name"] for c in load("requirements.yml")["collections"]}
    assert set(galaxy["dependencies"]) == requirements


def test_requires_ansible_admits_the_installed_ansible_core():
    requires = load("meta/runtime.yml")["requires_ansible"]
    assert requires.startswith(">=")
    assert LooseVersion(ANSIBLE_CORE) >= LooseVersion(requires[2:])


def test_the_repository_resolves_itself_as_the_collection():
    link = os.path.join(ROOT, "collections", "ansible_collections", "manylinux_shared", "factory")
    assert os.path.islink(link) and not os.path.isabs(os.readlink(link))
    assert os.path.realpath(link) == os.path.realpath(ROOT)


def test_each_filter_file_says_its_concern_and_no_filter_is_in_two():
    assert sum(len(filters) for filters in FILTERS_BY_FILE.values()) == len(FILTERS)
    for name in FILTER_FILES:
        assert FILTERS_BY_FILE[name] and importlib.import_module(name).__doc__.startswith("Filters: "), name
        assert name not in FILTERS, "%s: a filter file is named by its concern, not by a filter" % name


def test_every_filter_has_a_doc_file_matching_its_signature():
    docs = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(ROOT, "plugins", "filter", "*.yml")))
    assert docs == sorted(FILTERS)
    for name, function in FILTERS.items():
        doc = load(os.path.join("plugins", "filter", name + ".yml"))
        assert doc["DOCUMENTATION"]["name"] == name
        assert doc["DOCUMENTATION"]["short_description"] and doc["DOCUMENTATION"]["description"]
        assert doc["RETURN"]["_value"]["description"]
        assert "%s.%s" % (FQCN, name) in doc["EXAMPLES"], name
        parameters = list(inspect.signature(function).parameters)
        options = doc["DOCUMENTATION"]["options"]
        assert list(options) == ["_input"] + parameters[1:], name
        assert doc["DOCUMENTATION"]["positional"].replace(" ", "").split(",") == list(options), name
        for option, spec in options.items():
            default = inspect.signature(function).parameters.get(option)
            required = option == "_input" or default.default is inspect.Parameter.empty
            assert spec.get("required", False) == required, (name, option)


def fragment_options(fqcn):
    """The options of one of the collection's doc fragments, by its FQCN."""
    assert fqcn.startswith(FQCN + "."), fqcn
    path = os.path.join(ROOT, "plugins", "doc_fragments", fqcn[len(FQCN) + 1:] + ".py")
    namespace = {}
    with open(path) as handle:
        exec(compile(handle.read(), path, "exec"), namespace)  # noqa: S102 - the project's own file
    return yaml.safe_load(namespace["ModuleDocFragment"].DOCUMENTATION)["options"]


def test_the_registry_modules_take_their_options_from_the_one_spec_and_fragment():
    import manylinux_registry as registry
    documented = fragment_options(FQCN + ".manylinux_registry")
    assert set(documented) == set(registry.REGISTRY_ARGUMENT_SPEC)
    for option, spec in registry.REGISTRY_ARGUMENT_SPEC.items():
        assert documented[option]["type"] == spec["type"], option
        assert documented[option].get("default") == spec.get("default"), option
        assert documented[option].get("required", False) == spec.get("required", False), option


def test_every_module_has_examples_that_use_only_its_options():
    for name in MODULES:
        docs = module_docs(name)
        assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, name
        options = set(docs["DOCUMENTATION"].get("options") or {})
        for fragment in docs["DOCUMENTATION"].get("extends_documentation_fragment") or []:
            options |= set(fragment_options(fragment))
        tasks = docs["EXAMPLES"]
        assert isinstance(tasks, list) and tasks, name
        for task in tasks:
            assert task.get("name"), (name, task)
            args = task["%s.%s" % (FQCN, name)]
            assert set(args) <= options, (name, set(args) - options)


def ansible_doc(kind, names):
    proc = subprocess.run([os.path.join(BIN, "ansible-doc"), "-t", kind, "--json"] + ["%s.%s" % (FQCN, n) for n in names],
                          cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_ansible_doc_renders_every_filter():
    rendered = ansible_doc("filter", sorted(FILTERS))
    assert sorted(rendered) == sorted("%s.%s" % (FQCN, n) for n in FILTERS), rendered.keys()
    for name, doc in rendered.items():
        assert doc["doc"]["short_description"] and doc["examples"] and doc["return"], name


def test_ansible_doc_renders_every_module():
    rendered = ansible_doc("module", MODULES)
    assert sorted(rendered) == sorted("%s.%s" % (FQCN, n) for n in MODULES)
    for name, doc in rendered.items():
        assert doc["doc"]["short_description"] and doc["examples"] and doc["return"], name


def test_the_yaml_names_the_projects_plugins_by_fqcn():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "fqcn"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, "short names left (run scripts/fqcn):\n" + proc.stdout


def test_an_inventory_value_wins_over_the_default_data_and_the_rest_comes_from_it(tmp_path):
    # outside the repository (no ansible.cfg, no inventories/default): role factory_defaults alone
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n")
    (tmp_path / "inventory" / "group_vars").mkdir()
    (tmp_path / "inventory" / "group_vars" / "all.yml").write_text("build_image_owner: someone\n")
    (tmp_path / "play.yml").write_text(
        "- name: Show the data\n  hosts: localhost\n  gather_facts: false\n  roles:\n    - role: factory_defaults\n"
        "  tasks:\n    - name: Show\n      ansible.builtin.debug:\n"
        "        msg: \"[{{ build_image_ref }}] [{{ build_policy_table | length }}] [{{ build_sources | length }}]\"\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    environ.update(ANSIBLE_ROLES_PATH=os.path.join(ROOT, "roles"), ANSIBLE_NOCOLOR="1")
    run = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "inventory", "play.yml",
                          "-e", "policy=manylinux_2_31", "-e", "arch=x86_64"],
                         cwd=tmp_path, env=environ, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout + run.stderr
    policies = load("inventories/default/group_vars/all/policies.yml")["build_policy_table"]
    sources = load("inventories/default/group_vars/all/sources.yml")["build_sources"]
    assert "[ghcr.io/someone/manylinux_2_31_x86_64-shared:latest] [%d] [%d]" % (len(policies), len(sources)) \
        in run.stdout
    # and -e wins over both
    run = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "inventory", "play.yml",
                          "-e", "policy=manylinux_2_31", "-e", "arch=x86_64", "-e", "build_image_owner=other"],
                         cwd=tmp_path, env=environ, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert "[ghcr.io/other/manylinux_2_31_x86_64-shared:latest]" in run.stdout, run.stdout + run.stderr
