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
  registry:
    description: Registry host (and port), e.g. C(ghcr.io).
    type: str
    required: true
  repository:
    description: Repository in the registry, e.g. C(owner/manylinux2014-shared).
    type: str
    required: true
  date:
    description: The day, as the tags write it (C(YYYY.MM.DD)).
    type: str
    required: true
  username:
    description: User for the registry's challenge (empty, anonymous).
    type: str
    default: ""
  password:
    description: Its password or token.
    type: str
    default: ""
  insecure:
    description: The registry speaks plain HTTP (a local test registry).
    type: bool
    default: false
  timeout:
    description: Seconds a request may take.
    type: int
    default: 30
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
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_registry import Registry


def next_number(tags, date):
    """One more than the highest N of the `<date>-N` tags."""
    numbers = [int(match.group(1)) for match in (re.fullmatch(re.escape(date) + r"-(\d+)", tag) for tag in tags)
               if match]
    return max(numbers, default=0) + 1


def list_tags(registry, repository, username="", password="", insecure=False, timeout=30, opener=None):
    """The repository's tags ([] when the registry does not know it)."""
    return Registry(registry, repository, username, password, insecure, timeout, opener).tags()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            registry=dict(type="str", required=True),
            repository=dict(type="str", required=True),
            date=dict(type="str", required=True),
            username=dict(type="str", default=""),
            password=dict(type="str", default="", no_log=True),
            insecure=dict(type="bool", default=False),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if not re.fullmatch(r"\d{4}\.\d\d\.\d\d", p["date"]):
        module.fail_json(msg="date=%r is not YYYY.MM.DD" % p["date"])
    try:
        tags = list_tags(p["registry"], p["repository"], p["username"], p["password"], p["insecure"], p["timeout"])
    except (urllib.error.URLError, OSError, ValueError, RuntimeError, KeyError) as error:
        module.fail_json(msg="could not list the tags of %s/%s: %s" % (p["registry"], p["repository"], error))
    number = next_number(tags, p["date"])
    module.exit_json(changed=False, tags=tags, next=number, tag="%s-%d" % (p["date"], number))


if __name__ == "__main__":
    main()
