import os
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "plugins", "filter"))
sys.path.insert(0, os.path.join(ROOT, "plugins", "modules"))
sys.path.insert(0, os.path.join(ROOT, "plugins", "module_utils"))
# the modules import their shared code as the collection's:
# ansible_collections.manylinux_shared.factory.plugins.module_utils.<name>, and
# collections/ansible_collections/manylinux_shared/factory is this repository
sys.path.insert(0, os.path.join(ROOT, "collections"))
GROUP_VARS = os.path.join(ROOT, "inventories", "default", "group_vars", "all")


def load_group_vars(name):
    with open(os.path.join(GROUP_VARS, name)) as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="session")
def policies():
    return load_group_vars("policies.yml")


@pytest.fixture(scope="session")
def sources():
    return load_group_vars("sources.yml")["build_sources"]
