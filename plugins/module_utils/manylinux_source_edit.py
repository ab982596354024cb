"""The source table (build_sources in inventories/default/group_vars/all/sources.yml) and the files that
name its versions, read and rewritten through a YAML round trip (module_utils manylinux_yaml_edit keeps the
comments and the style): the pin updater's edits (module manylinux_source_update). Every rewrite is checked: the
new text must load as the old data with only the moved pins changed, else UpdateError and nothing is written."""

import yaml

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_upstreams import UpdateError
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_yaml_edit import (
    EditError,
    dump,
    load,
    plain_copy,
    rename_key,
    same_style,
    set_values,
)

TABLE_KEY = "build_sources"


def table_entries(text, path):
    """(round trip, data, {key: entry}) of the build_sources table; UpdateError when it is not one."""
    try:
        handle, data = load(text, path)
    except EditError as exc:
        raise UpdateError(str(exc))
    table = data.get(TABLE_KEY) if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise UpdateError("%s has no %s mapping" % (path, TABLE_KEY))
    return handle, data, {key: entry for key, entry in table.items() if isinstance(entry, dict)}


def moved_entry(old, new):
    """The entry with version, file, url and sha256 set to `new`'s, each in the style it had."""
    for field in ("version", "file", "url", "sha256"):
        if field in old:
            old[field] = same_style(old[field], new[field])
        else:
            old[field] = new[field]
    return old


def held_keys(override_files):
    """({key: override file} of the entries an override file holds, {path: text})."""
    held, texts = {}, {}
    for path in override_files:
        with open(path) as handle:
            texts[path] = handle.read()
        data = yaml.safe_load(texts[path]) or {}
        for key in (data.get("build_source_overrides") or {}):
            held.setdefault(key, path)
    return held, texts


def rewrite_table(path, text, handle, data, updates):
    """The source table's new text: each moved entry renamed in place, or a new one after it when kept."""
    expected = yaml.safe_load(text)
    table, wanted = data[TABLE_KEY], expected[TABLE_KEY]
    for item in updates:
        new = {"version": item["new_version"], "file": item["file"], "url": item["url"], "sha256": item["sha256"]}
        fresh = dict(wanted[item["key"]], **new)
        if item["kept"]:
            position = list(table).index(item["key"]) + 1
            table.insert(position, item["new_key"], moved_entry(plain_copy(table[item["key"]]), new))
            wanted = insert_after(wanted, item["key"], item["new_key"], fresh)
        else:
            moved_entry(table[item["key"]], new)
            rename_key(table, item["key"], item["new_key"])
            wanted = insert_after(wanted, item["key"], item["new_key"], fresh)
            del wanted[item["key"]]
    expected[TABLE_KEY] = wanted
    return checked_dump(path, handle, data, expected)


def insert_after(mapping, after, key, value):
    out = {}
    for name, entry in mapping.items():
        out[name] = entry
        if name == after:
            out[key] = value
    return out


def checked_dump(path, handle, data, expected):
    out = dump(handle, data)
    if yaml.safe_load(out) != expected:
        raise UpdateError("nothing was rewritten: the YAML round trip of %s would change more than the pins" % path)
    return out


def rewrite_references(params, updates, texts):
    """{path: new text} of the reference files whose values name a moved version (`texts`: already new)."""
    loaded = {}
    for ref in params["references"]:
        for update in updates:
            if update["name"] != ref["name"]:
                continue
            path = ref["file"]
            if path not in loaded:
                text = texts.get(path)
                if text is None:
                    with open(path) as handle:
                        text = handle.read()
                try:
                    loaded[path] = load(text, path) + (yaml.safe_load(text),)
                except EditError as exc:
                    raise UpdateError(str(exc))
            _, data, expected = loaded[path]
            if set_values(data, ref["path"], update["version"], update["new_version"]):
                set_values(expected, ref["path"], update["version"], update["new_version"])
                update.setdefault("references", []).append(path)
    return {path: checked_dump(path, handle, data, expected) for path, (handle, data, expected) in loaded.items()}
