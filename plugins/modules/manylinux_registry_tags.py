#!/usr/bin/python
"""List a repository's tags in a registry and find the next dated tag of the day."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_registry_tags
short_description: The tags of a repository in a registry, and the next C(<date>-N) of a day
description:
  - Lists the tags of O(repository) in O(registry) with the registry API
    (C(GET /v2/<repository>/tags/list)), answering a C(Basic) or C(Bearer) challenge with
    O(username) and O(password) (anonymous when empty), as ghcr.io and a local registry ask.
  - A repository the registry does not know has no tags.
  - RV(next) is the C(N) of the next C(<date>-N) tag for O(date), one more than the highest
    C(N) among the tags of that day and 1 on the day's first build (as upstream's deploy counts).
options:
  date:
    description: The day, as the tags write it (C(YYYY.MM.DD)).
    type: str
    required: true
extends_documentation_fragment:
  - manylinux_shared.factory.manylinux_registry
"""

EXAMPLES = r"""
- name: Find the next dated tag of today
  manylinux_shared.factory.manylinux_registry_tags:
    registry: ghcr.io
    repository: manylinux-shared/manylinux2014-shared
    date: "{{ now(utc=true, fmt='%Y.%m.%d') }}"
  register: tags
"""

RETURN = r"""
tags:
  description: The repository's tags.
  type: list
  elements: str
  returned: success
next:
  description: The N of the next C(<date>-N) tag.
  type: int
  returned: success
tag:
  description: The next tag of the day, C(<date>-<next>).
  type: str
  returned: success
"""

import re
import urllib.error

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_registry import REGISTRY_ARGUMENT_SPEC, client_from


def next_number(tags, date):
    """One more than the highest N of the `<date>-N` tags."""
    numbers = [int(match.group(1)) for match in (re.fullmatch(re.escape(date) + r"-(\d+)", tag) for tag in tags)
               if match]
    return max(numbers, default=0) + 1


def list_tags(params, opener=None):
    """The repository's tags ([] when the registry does not know it); `params` as REGISTRY_ARGUMENT_SPEC's."""
    return client_from(params, opener).tags()


def main():
    module = AnsibleModule(
        argument_spec=dict(REGISTRY_ARGUMENT_SPEC, date=dict(type="str", required=True)),
        supports_check_mode=True,
    )
    p = module.params
    if not re.fullmatch(r"\d{4}\.\d\d\.\d\d", p["date"]):
        module.fail_json(msg="date=%r is not YYYY.MM.DD" % p["date"])
    try:
        tags = list_tags(p)
    except (urllib.error.URLError, OSError, ValueError, RuntimeError, KeyError) as error:
        module.fail_json(msg="could not list the tags of %s/%s: %s" % (p["registry"], p["repository"], error))
    number = next_number(tags, p["date"])
    module.exit_json(changed=False, tags=tags, next=number, tag="%s-%d" % (p["date"], number))


if __name__ == "__main__":
    main()
