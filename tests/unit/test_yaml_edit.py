"""module_utils manylinux_yaml_edit: values found by their path in the data, set in their style, comments kept."""

import os

import pytest
import manylinux_yaml_edit as edit

TEXT = """---
# the table
versions:
  - version: "3.13.14"  # the default
  - version: '3.14.6'
    free_threading: true
plain: 3.5.7
table:
  openssl-3.5.7:
    # a comment in the entry
    version: 3.5.7
  sqlite-3.53.4:
    version: 3.53.4
"""


def test_values_are_set_by_path_in_their_style_and_the_comments_stay():
    handle, data = edit.load(TEXT)
    assert edit.set_values(data, "versions.*.version", "3.13.14", "3.13.15") == 1
    assert edit.set_values(data, "versions.*.version", "3.14.6", "3.14.7") == 1
    assert edit.set_values(data, "plain", "3.5.7", "3.5.8") == 1
    assert edit.set_values(data, "versions.*.missing", "3.14.6", "x") == 0
    assert edit.set_values(data, "nothing.here", "3.14.6", "x") == 0
    edit.rename_key(data["table"], "openssl-3.5.7", "openssl-3.5.8")
    out = edit.dump(handle, data)
    assert out == TEXT.replace('"3.13.14"', '"3.13.15"').replace("'3.14.6'", "'3.14.7'") \
        .replace("plain: 3.5.7", "plain: 3.5.8").replace("openssl-3.5.7:", "openssl-3.5.8:")


def test_a_copy_has_the_values_but_not_the_comments():
    _, data = edit.load(TEXT)
    copy = edit.plain_copy(data["table"]["openssl-3.5.7"])
    assert dict(copy) == {"version": "3.5.7"} and not copy.ca.items


def test_a_file_that_does_not_parse_is_named():
    with pytest.raises(edit.EditError, match="cannot read the table x.yml"):
        edit.load("a: [", "the table x.yml")


def test_a_write_goes_through_a_file_beside_it_and_keeps_the_mode(tmp_path):
    path = tmp_path / "f.yml"
    path.write_text("a: 1\n")
    os.chmod(path, 0o640)
    edit.write_atomically(str(path), "a: 2\n")
    assert path.read_text() == "a: 2\n" and (path.stat().st_mode & 0o777) == 0o640
    assert os.listdir(tmp_path) == ["f.yml"]
