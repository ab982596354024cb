"""Edit the project's YAML data files as data, keeping comments, order and quoting (ruamel.yaml's round trip).

The pin updaters (modules manylinux_source_update and manylinux_base_pins) change values of the
source table, the policy table and the roles' defaults through these helpers only: a value is
found by its path in the data (never by matching a line of text), set in the style it had, and
the file is written beside itself and moved over it, or not at all.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile

try:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError as RoundTripError
except ImportError:  # pragma: no cover - the controller venv has it (requirements.txt)
    YAML = None

    class RoundTripError(Exception):
        pass


class EditError(Exception):
    pass


def round_trip():
    """A ruamel.yaml round-trip loader and dumper set as the project's files are written."""
    if YAML is None:  # pragma: no cover - the controller venv has it (requirements.txt)
        raise EditError("the Python package ruamel.yaml is needed (run with the project's .venv)")
    handle = YAML()
    handle.preserve_quotes = True
    handle.width = 4096
    handle.indent(mapping=2, sequence=4, offset=2)
    return handle


def load(text, source="the file"):
    """(round trip, data) of a YAML text; EditError naming `source` when it does not parse."""
    handle = round_trip()
    try:
        data = handle.load(text)
    except (ValueError, RoundTripError) as exc:
        raise EditError("cannot read %s: %s" % (source, exc))
    handle.explicit_start = text.lstrip().startswith("---")
    return handle, data


def dump(handle, data):
    out = io.StringIO()
    handle.dump(data, out)
    return out.getvalue()


def same_style(old, new):
    """`new` as a scalar of the style `old` had (plain, single or double quoted)."""
    return type(old)(new) if isinstance(old, str) and type(old) is not str else new


def set_values(data, path, old, new):
    """Set every value at `path` (keys joined by '.', '*' for every item of a list or mapping) that
    equals `old` to `new`, in its style; return how many were set."""
    head, _, rest = path.partition(".")
    if head == "*":
        children = list(data.items()) if isinstance(data, dict) else list(enumerate(data)) \
            if isinstance(data, list) else []
    elif isinstance(data, dict) and head in data:
        children = [(head, data[head])]
    else:
        children = []
    count = 0
    for key, child in children:
        if rest:
            count += set_values(child, rest, old, new)
        elif child is not None and not isinstance(child, (dict, list)) and str(child) == str(old):
            data[key] = same_style(child, new)
            count += 1
    return count


def plain_copy(mapping):
    """A new round-trip mapping with the entries of `mapping` (their styles), none of its comments."""
    from ruamel.yaml.comments import CommentedMap
    return CommentedMap(mapping.items())


def rename_key(mapping, old, new):
    """Give the entry `old` of a round-trip mapping the key `new`, at the same place, its comments kept."""
    position = list(mapping).index(old)
    value = mapping.pop(old)
    comment = mapping.ca.items.pop(old, None)
    mapping.insert(position, new, value)
    if comment is not None:
        mapping.ca.items[new] = comment


def write_atomically(path, text, move=os.replace):
    """Write `text` to a temporary file beside `path` (its mode) and move it over `path`."""
    fd, tmp = tempfile.mkstemp(prefix=".edit-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
