"""What the filter plugins (plugins/filter/*.py) share: the error they raise and how they name choices."""

from __future__ import annotations

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - unit tests run with ansible installed
    class AnsibleFilterError(Exception):
        pass


def choices(names):
    """The valid choices of an error message: sorted, comma-separated."""
    return ", ".join(sorted(names))
