"""Filters for the manylinux-shared image factory.

The policy table and the source table are data (inventories/default/group_vars/all);
these filters are their only readers, so that every lookup fails the same way:
early, and naming the valid choices.
"""

import hashlib
import json
import os
import re
import shlex

from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_image_ref import (
    COMPONENT as _COMPONENT,
    HOST as _HOST,
    ReferenceError as _ReferenceError,
    parse as _parse_reference,
)

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - unit tests run with ansible installed
    class AnsibleFilterError(Exception):
        pass


def _choices(names):
    return ", ".join(sorted(names))


def manylinux_target(policy_table, policy, arch, arch_table):
    """Return the policy table entry for (policy, arch), merged with its arch entry.

    Raises a clear error for an unknown policy, an unknown arch, or a pair the
    policy does not support, listing what is valid.
    """
    if not isinstance(policy_table, dict) or not policy_table:
        raise AnsibleFilterError("the policy table is empty or not a mapping")
    if policy in (None, ""):
        raise AnsibleFilterError(
            "no policy given (-e policy=...); valid policies: %s" % _choices(policy_table)
        )
    if policy not in policy_table:
        raise AnsibleFilterError(
            "unknown policy %r; valid policies: %s" % (policy, _choices(policy_table))
        )
    entry = policy_table[policy]
    supported = entry.get("arches") or {}
    if arch in (None, ""):
        raise AnsibleFilterError(
            "no arch given (-e arch=...); valid arches for %s: %s" % (policy, _choices(supported))
        )
    if arch not in arch_table:
        raise AnsibleFilterError(
            "unknown arch %r; valid arches: %s (for %s: %s)"
            % (arch, _choices(arch_table), policy, _choices(supported))
        )
    if arch not in supported:
        pairs = [p for p, e in sorted(policy_table.items()) if arch in (e.get("arches") or {})]
        raise AnsibleFilterError(
            "unsupported pair: %s has no %s; valid arches for %s: %s; policies with %s: %s"
            % (policy, arch, policy, _choices(supported), arch, ", ".join(pairs) or "none")
        )
    target = {k: v for k, v in entry.items() if k != "arches"}
    target.update(arch_table[arch])
    target.update(supported[arch] or {})
    target.setdefault("upstream", True)
    target["policy"] = policy
    target["arch"] = arch
    target["platform_tag"] = "%s_%s" % (policy, arch)
    return target


def manylinux_target_error(policy_table, policy, arch, arch_table):
    """Return why (policy, arch) is not buildable, or '' when it is (for a clean assert message)."""
    try:
        manylinux_target(policy_table, policy, arch, arch_table)
    except AnsibleFilterError as exc:
        return str(exc)
    return ""


# What a build's names and paths must be (Docker's reference grammar for what
# becomes part of an image name), checked before any work.
NAMING_RULES = {
    "build_image_registry": (r"(%s)?" % _HOST, "a registry host such as ghcr.io or 127.0.0.1:5000, or empty"),
    "build_image_owner": (r"(%s(/%s)*)?" % (_COMPONENT, _COMPONENT),
                          "lowercase path components of letters and digits joined by . _ -, or empty"),
    "build_image_suffix": (r"([._]|__|-+)?[a-z0-9]+((?:[._]|__|-+)[a-z0-9]+)*|",
                           "lowercase letters and digits joined by . _ - (it ends the repository name)"),
    "build_image_tag": (r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "up to 128 letters, digits, _ . - (not first . or -)"),
    "build_id": (r"([A-Za-z0-9][A-Za-z0-9_.-]{0,99})?",
                 "empty (the build chooses it) or up to 100 letters, digits, _ . - (it names containers and tags)"),
    "build_cache_repository": (r"(%s/)?%s(/%s)*" % (_HOST, _COMPONENT, _COMPONENT), "an image repository name"),
    "build_snapshot_repository": (r"(%s/)?%s(/%s)*" % (_HOST, _COMPONENT, _COMPONENT), "an image repository name"),
    "build_log_root": (r"/.*", "an absolute path on the controller"),
    "build_source_cache": (r"/.*", "an absolute path on the controller"),
    "build_artifact_cache": (r"/.*", "an absolute path on the controller"),
}


def manylinux_naming_errors(values):
    """The rule each of `values` ({variable: value}) breaks (NAMING_RULES), one message each."""
    errors = []
    for name in sorted(values):
        if name not in NAMING_RULES:
            raise AnsibleFilterError("manylinux_naming_errors: no rule for %s" % name)
        pattern, what = NAMING_RULES[name]
        value = "" if values[name] is None else str(values[name])
        if not re.fullmatch(pattern, value) or "\n" in value:
            errors.append("%s=%r is not %s" % (name, value, what))
    return errors


def manylinux_target_error_for(arch, policy_table, policy, arch_table):
    """manylinux_target_error with the arch first, for map() over a list of arches."""
    return manylinux_target_error(policy_table, policy, arch, arch_table)


def manylinux_source(sources, key):
    """Return the source table entry `key`, checked for the fields a fetch needs."""
    if not isinstance(sources, dict):
        raise AnsibleFilterError("the source table is not a mapping")
    if key not in sources:
        raise AnsibleFilterError(
            "no source %r in build_sources; declared: %s" % (key, _choices(sources))
        )
    entry = dict(sources[key])
    missing = [f for f in ("name", "version", "file", "url", "sha256") if not entry.get(f)]
    if missing:
        raise AnsibleFilterError("source %r lacks %s" % (key, ", ".join(missing)))
    sha = str(entry["sha256"]).lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise AnsibleFilterError("source %r: sha256 %r is not 64 hex digits" % (key, entry["sha256"]))
    entry["sha256"] = sha
    entry["version"] = str(entry["version"])
    entry["key"] = key
    return entry


def manylinux_sources(sources, keys):
    """Return the entries for a list of keys, de-duplicated, in order."""
    seen = []
    for key in keys:
        if key not in seen:
            seen.append(key)
    return [manylinux_source(sources, key) for key in seen]


def _quote(value):
    # Dockerfile ENV/LABEL values in double quotes take JSON-style escapes.
    return json.dumps(str(value))


def manylinux_commit_changes(env, labels, entrypoint, cmd):
    """Build the `docker commit --change` instructions for the image config."""
    changes = []
    for key in sorted(env):
        if env[key] is None:
            continue
        changes.append("ENV %s=%s" % (key, _quote(env[key])))
    for key in sorted(labels):
        changes.append("LABEL %s=%s" % (_quote(key), _quote(labels[key])))
    changes.append("ENTRYPOINT %s" % json.dumps(list(entrypoint)))
    changes.append("CMD %s" % json.dumps(list(cmd)))
    return changes


def manylinux_path_join(prepend, base):
    """Join PATH-like entries: `prepend` first, then `base` (a list or a colon string), no repeats, no empties."""
    if isinstance(base, str):
        base = base.split(":")
    out = []
    for item in list(prepend or []) + list(base or []):
        if item and item not in out:
            out.append(item)
    return ":".join(out)


def manylinux_archive_root(files):
    """Return the top directory an archive unpacks to, from unarchive's file list."""
    roots = []
    for name in files or []:
        parts = [p for p in str(name).split("/") if p not in ("", ".")]
        if parts and parts[0] not in roots:
            roots.append(parts[0])
    if len(roots) != 1:
        raise AnsibleFilterError(
            "expected an archive with one top directory, found %s" % (", ".join(roots[:5]) or "none"))
    return roots[0]


def manylinux_component_labels(manifests, prefix):
    """Image labels of component manifests ({name, version, details}): `<prefix>.<name>=<version>`, one per
    component (names are unique), and `<prefix>.<name>.<tool>=<version>` for each tool a component lists in
    `details.tools` (python-tools: auditwheel, cmake, ...), so that no label merges or hides a version."""
    labels = {}
    for manifest in manifests or []:
        if not isinstance(manifest, dict) or not manifest.get("name") or not manifest.get("version"):
            raise AnsibleFilterError("a component manifest lacks name or version: %r" % (manifest,))
        key = "%s.%s" % (prefix, manifest["name"])
        if labels.get(key, str(manifest["version"])) != str(manifest["version"]):
            raise AnsibleFilterError("two components named %s: %s and %s" % (manifest["name"], labels[key],
                                                                             manifest["version"]))
        labels[key] = str(manifest["version"])
        tools = (manifest.get("details") or {}).get("tools") or {}
        for tool, version in sorted(tools.items() if isinstance(tools, dict) else []):
            labels["%s.%s" % (key, tool)] = str(version)
    return labels


def manylinux_pushed_digests(images, repository, tags, list_name="", list_pushes=()):
    """{reference: digest} of what a publish pushed: each image (docker's image info, whose RepoDigests hold one
    `<repo>@<digest>` per repository it was pushed to) under each tag, for the repositories under `repository`;
    and each manifest list `<list_name>:<tag>` whose push gave a digest (a result whose item is the tag and whose
    `digest`, or the last line of its `stdout`, is the digest)."""
    digests = {}
    for image in images or []:
        for entry in image.get("RepoDigests") or []:
            repo, _, digest = entry.partition("@")
            if repo.startswith(repository.rstrip("/") + "/") and digest:
                for tag in tags:
                    digests["%s:%s" % (repo, tag)] = digest
    for push in list_pushes or []:
        digest = [push["digest"]] if push.get("digest") else (push.get("stdout") or "").strip().splitlines()
        if push.get("item") and digest and digest[-1].startswith("sha256:"):
            digests["%s:%s" % (list_name, push["item"])] = digest[-1]
    return digests


def _reference(text, what):
    try:
        return _parse_reference(text)
    except _ReferenceError as exc:
        raise AnsibleFilterError("%s: %s" % (what, exc))


def manylinux_pull_reference(image):
    """What to pull for a base image: `name@digest` for a pinned `name:tag@digest` (community.docker's docker_image
    finds a pulled image by that, never by name:tag@digest), else the name as it is (an offline base)."""
    return _reference(image, "manylinux_pull_reference").pull


def manylinux_base_digest(image, base_image):
    """{digest, source} of a base image (docker's image info): `registry` and the digest it was pulled by (the
    pinned one, else the RepoDigest of the base's repository, else the first), or `local` and the image's own id
    (its config digest) for an image no registry gave (bootstrapped here); both empty without an image."""
    if not image:
        return {"digest": "", "source": ""}
    base = _reference(base_image, "manylinux_base_digest")
    pulled = []
    for entry in image.get("RepoDigests") or []:
        ref = _reference(entry, "manylinux_base_digest: RepoDigests")
        pulled.append((ref.canonical == base.canonical, ref.digest))
    digests = [d for same, d in pulled if same and d == base.digest] or [d for same, d in pulled if same] \
        or [d for _, d in pulled]
    if digests:
        return {"digest": digests[0], "source": "registry"}
    if not str(image.get("Id", "")).startswith("sha256:"):
        raise AnsibleFilterError("manylinux_base_digest: the image of %s has neither RepoDigests nor an Id" % base_image)
    return {"digest": image["Id"], "source": "local"}


def _apt_sources(texts):
    """(uri, suite) of every `deb` source in apt source files, one-line or deb822 format, in order."""
    candidates = []
    for text in texts or []:
        stanza_uris, stanza_suites = [], []
        for raw in str(text).splitlines() + [""]:
            line = raw.split("#", 1)[0].strip()
            if not line:
                candidates.extend((u, s) for u in stanza_uris for s in (stanza_suites or [""]))
                stanza_uris, stanza_suites = [], []
                continue
            if line.startswith("deb ") or line.startswith("deb\t"):
                # an option group "[arch=amd64 signed-by=...]" may span words
                line = re.sub(r"\[[^]]*\]", " ", line)
                words = line.split()[1:]
                if len(words) >= 2:
                    candidates.append((words[0], words[1]))
            elif line.lower().startswith("uris:"):
                stanza_uris = line.split(":", 1)[1].split()
            elif line.lower().startswith("suites:"):
                stanza_suites = line.split(":", 1)[1].split()
            elif line.lower().startswith("types:") and "deb" not in line.split(":", 1)[1].split():
                stanza_uris = []
    return candidates


def manylinux_offline_base(texts, distributions, release, debian_arch, mirror="", distribution=""):
    """Choose how to bootstrap an offline base: {distribution, mirror, suite, keyring, components}.

    `texts` are the host's apt source files (one-line or deb822); the first main archive among them (not a
    security or updates suite) names the distribution by the last part of its path (`debian`, `ubuntu`,
    `ubuntu-ports`) and is the mirror. `mirror` and `distribution` override what the host says.
    `distributions` is the table (build_offline_bases): per distribution its `keyring`, `components`,
    `suites` ({release: suite}) and optionally `ports` ({mirror, arches}), the archive of the
    architectures its main mirror lacks.
    """
    names = sorted(distributions or {})
    found = []
    for uri, suite in _apt_sources(texts) if not mirror else [(mirror, "")]:
        if "security" in uri or re.search(r"-(security|updates|backports|proposed)$", suite):
            continue
        last = uri.rstrip("/").rsplit("/", 1)[-1]
        kind = "ubuntu" if last == "ubuntu-ports" else last
        found.append((kind, uri.rstrip("/")))
    chosen = [(kind, uri) for kind, uri in found if kind == distribution or (not distribution and kind in names)]
    if distribution and distribution not in names:
        raise AnsibleFilterError("base_distribution=%s is not in build_offline_bases; choose one of: %s"
                                 % (distribution, ", ".join(names)))
    if not chosen:
        raise AnsibleFilterError("no %s archive mirror found in the apt sources (seen: %s); set base_mirror"
                                 % ("/".join(names) if not distribution else distribution,
                                    ", ".join(uri for _, uri in found) or "none"))
    kind, uri = chosen[0]
    table = distributions[kind]
    suites = table.get("suites") or {}
    if release not in suites:
        raise AnsibleFilterError("base_release=%s has no %s suite in build_offline_bases; choose one of: %s"
                                 % (release, kind, ", ".join(sorted(suites))))
    ports = table.get("ports") or {}
    if debian_arch in (ports.get("arches") or []) and not mirror:
        uri = ports["mirror"].rstrip("/")
    return {"distribution": kind, "mirror": uri, "suite": suites[release], "keyring": table["keyring"],
            "components": list(table.get("components") or ["main"])}


def manylinux_tree_hash(paths):
    """sha256 over the files below `paths` (names, modes and contents), ignoring bytecode caches."""
    digest = hashlib.sha256()
    for top in sorted(paths or []):
        if not os.path.exists(top):
            raise AnsibleFilterError("key input %s does not exist" % top)
        files = [top] if os.path.isfile(top) else [
            os.path.join(d, f) for d, dirs, names in os.walk(top)
            if "__pycache__" not in d.split(os.sep) for f in names]
        for path in sorted(files):
            if path.endswith((".pyc", ".pyo")):
                continue
            rel = os.path.relpath(path, os.path.dirname(top))
            digest.update(("%s\0%o\0" % (rel, os.stat(path).st_mode & 0o777)).encode())
            with open(path, "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def manylinux_role_inputs(role, entry_point, values, os_family="", package_manager=""):
    """What a role's entry point makes depends on: {role, entry_point, options, files}.

    `role` is an item of lookup manylinux_role_entry_points ({role, path, entry_points}).
    `options` are the values (from `values`, a name -> value mapping) of the variables the
    entry point declares in its argument spec; `files` hashes the files it runs: for `main`,
    the whole role; for a base entry point (runtime_base, build_base), the role's tasks and
    handlers and its OS data (vars/<os_family>.yml, vars/<os_family>-<package_manager>.yml)."""
    path = role["path"]
    names = (role.get("entry_points") or {}).get(entry_point)
    if names is None:
        raise AnsibleFilterError("role %s declares no entry point %s" % (role.get("role"), entry_point))
    if entry_point == "main":
        files = [path]
    else:
        files = [os.path.join(path, d) for d in ("tasks", "handlers")]
        files += [os.path.join(path, "vars", n) for n in ("%s.yml" % os_family, "%s-%s.yml" % (os_family, package_manager))]
    files = [f for f in files if os.path.exists(f)]
    return {"role": role["role"], "entry_point": entry_point,
            "options": {name: values.get(name) for name in names},
            "files": manylinux_tree_hash(files) if files else ""}


def manylinux_labeled(images, label):
    """{value of `label`: image Id} of the images (docker_image_info's) that carry the label."""
    found = {}
    for image in images or []:
        labels = (image.get("Config") or {}).get("Labels") or image.get("Labels") or {}
        if labels.get(label):
            found.setdefault(labels[label], image["Id"])
    return found


def manylinux_library_environment(prefix):
    """What a library in its own prefix exports to the components that link it: its headers,
    its libraries with a run-time path (no LD_LIBRARY_PATH needed) and its pkg-config files."""
    prefix = str(prefix).rstrip("/")
    if not prefix.startswith("/"):
        raise AnsibleFilterError("manylinux_library_environment: %r is not an absolute prefix" % prefix)
    return {
        "CPPFLAGS": "-I%s/include" % prefix,
        "LDFLAGS": "-L%s/lib -Wl,--enable-new-dtags,-rpath,%s/lib" % (prefix, prefix),
        "PKG_CONFIG_PATH": "%s/lib/pkgconfig" % prefix,
    }


def manylinux_cache_prune(images, label_prefix, in_use=(), keep_kinds=("runtime-base", "build-base")):
    """What playbooks/prune.yml removes and keeps, from the engine's image summaries.

    Cache images (label `<prefix>.cache-key` set) are in use when a tagged final image
    (label `<prefix>.policy` set, cache key empty) is built on them, when a container uses
    them or an image built on them (`in_use`: image ids; a build running now goes on from
    them), and, for the bases (label `<prefix>.cache-kind` in keep_kinds), when they are the
    newest of their kind, repository and platform: the next build starts from them. Returns `remove`, the
    tags of the cache images not in use, and `artifacts`, the artifact directories
    (label `<prefix>.cache-artifact`) of the layers in use."""
    by_id = {image["Id"]: image for image in images or []}
    cache_label, kind_label = label_prefix + ".cache-key", label_prefix + ".cache-kind"
    artifact_label, final_label = label_prefix + ".cache-artifact", label_prefix + ".policy"

    def labels(image):
        return image.get("Labels") or {}

    def tagged(image):
        return [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]

    used = set()

    def keep_ancestors(image_id):
        while image_id and image_id in by_id and image_id not in used:
            used.add(image_id)
            image_id = by_id[image_id].get("ParentId")

    for image in by_id.values():
        if not labels(image).get(cache_label) and final_label in labels(image) and tagged(image):
            keep_ancestors(image.get("ParentId"))
    for image_id in in_use or ():
        keep_ancestors(image_id)
    newest = {}
    for image in by_id.values():
        kind = labels(image).get(kind_label)
        if kind in keep_kinds and tagged(image):
            repository, _, tag = tagged(image)[0].rpartition(":")
            slot = (kind, repository, tag.rsplit("-" + kind, 1)[0])
            if slot not in newest or image.get("Created", 0) > by_id[newest[slot]].get("Created", 0):
                newest[slot] = image["Id"]
    for image_id in newest.values():
        keep_ancestors(image_id)
    remove = sorted(tag for image in by_id.values() if labels(image).get(cache_label) and image["Id"] not in used
                    for tag in (tagged(image) or [image["Id"]]))
    artifacts = sorted(set(labels(by_id[i]).get(artifact_label) for i in used if labels(by_id[i]).get(artifact_label)))
    return {"remove": remove, "artifacts": artifacts}


def _version_tuple(version, what):
    parts = str(version).split(".")
    try:
        return tuple(int(part) for part in parts[:2])
    except ValueError:
        raise AnsibleFilterError("%s: %r is not a version such as 3.13 or 3.13.14" % (what, version))


def manylinux_cpython_tag(version, free_threading=False):
    """The /opt/python name of a CPython: python tag and ABI tag, e.g. cp313-cp313, cp314-cp314t."""
    major, minor = _version_tuple(version, "manylinux_cpython_tag")
    if (major, minor) < (3, 8):
        raise AnsibleFilterError("manylinux_cpython_tag: CPython %s predates the ABI tags this image uses (3.8+)"
                                 % version)
    if free_threading and (major, minor) < (3, 13):
        raise AnsibleFilterError("manylinux_cpython_tag: CPython %s has no free-threading build (3.13+)" % version)
    tag = "cp%d%d" % (major, minor)
    return "%s-%s%s" % (tag, tag, "t" if free_threading else "")


def manylinux_options_for(entries, version):
    """The options of `entries` that apply to CPython `version`.

    Each entry is {option, since?, before?}: `since` and `before` bound the
    minor versions it applies to (since <= X.Y < before).
    """
    current = _version_tuple(version, "manylinux_options_for")
    options = []
    for entry in entries or []:
        if not isinstance(entry, dict) or "option" not in entry:
            raise AnsibleFilterError("manylinux_options_for: %r has no 'option'" % (entry,))
        unknown = set(entry) - {"option", "since", "before"}
        if unknown:
            raise AnsibleFilterError("manylinux_options_for: unknown keys %s in %r" % (_choices(unknown), entry))
        if "since" in entry and current < _version_tuple(entry["since"], "since"):
            continue
        if "before" in entry and current >= _version_tuple(entry["before"], "before"):
            continue
        options.append(entry["option"])
    return options


def manylinux_interpreter_table(entries, prefix_root, link_dir):
    """The interpreters of a version list ({version, free_threading, ...}) as records.

    One record per entry: identifier (the /opt/python name), implementation,
    version, minor, variant, free_threading, prefix, install_path (the link),
    python (the interpreter's name in bin/), plus the entry's own keys. Two
    entries that make the same identifier are an error.
    """
    records = []
    seen = {}
    for entry in entries or []:
        if not isinstance(entry, dict) or not entry.get("version"):
            raise AnsibleFilterError("interpreter entry %r has no version" % (entry,))
        version = str(entry["version"])
        free_threading = bool(entry.get("free_threading", False))
        tag = manylinux_cpython_tag(version, free_threading)
        if tag in seen:
            raise AnsibleFilterError("interpreters %s and %s%s are both %s: one entry per tag"
                                     % (seen[tag], version, " (free-threading)" if free_threading else "", tag))
        seen[tag] = version + (" (free-threading)" if free_threading else "")
        minor = ".".join(version.split(".")[:2])
        record = dict(entry)
        record.update({
            "identifier": tag,
            "implementation": "cpython",
            "version": version,
            "minor": minor,
            "variant": "freethreading" if free_threading else "default",
            "free_threading": free_threading,
            "prefix": "%s/cpython-%s%s" % (prefix_root.rstrip("/"), version, "-nogil" if free_threading else ""),
            "install_path": "%s/%s" % (link_dir.rstrip("/"), tag),
            "python": "python%s%s" % (minor, "t" if free_threading else ""),
        })
        records.append(record)
    return records


def manylinux_downloadable_interpreters(table, arch, requirements, requirements_dir):
    """What manylinux-interpreters can download on one arch: tag -> implementation, python_version,
    implementation_version, url, sha256, requirements (the path in the image of the pip pins for its
    Python version: `requirements` maps a version to a file name, with a `default`)."""
    found = {}
    for tag, entry in sorted((table or {}).items()):
        missing = {"implementation", "python_version", "arches"} - set(entry or {})
        if missing:
            raise AnsibleFilterError("downloadable interpreter %s lacks %s" % (tag, ", ".join(sorted(missing))))
        pin = entry["arches"].get(arch)
        if pin is None:
            continue
        missing = {"implementation_version", "url", "sha256"} - set(pin)
        if missing:
            raise AnsibleFilterError("downloadable interpreter %s on %s lacks %s" % (tag, arch, ", ".join(sorted(missing))))
        if not re.fullmatch(r"[0-9a-f]{64}", str(pin["sha256"])):
            raise AnsibleFilterError("downloadable interpreter %s on %s: sha256 %r is not 64 hex digits"
                                     % (tag, arch, pin["sha256"]))
        version = str(entry["python_version"])
        name = requirements.get(version, requirements.get("default"))
        found[tag] = {
            "implementation": entry["implementation"],
            "python_version": version,
            "implementation_version": str(pin["implementation_version"]),
            "url": pin["url"],
            "sha256": pin["sha256"],
            "requirements": "%s/%s" % (requirements_dir.rstrip("/"), name) if name else None,
        }
    return found


def manylinux_link_command(links):
    """One shell command that makes each symlink {src, dest} (its directory first), every path quoted;
    a rerun replaces the links (ln -sfn)."""
    commands = []
    for link in links or []:
        src, dest = str(link.get("src", "")), str(link.get("dest", ""))
        if not src.startswith("/") or not dest.startswith("/"):
            raise AnsibleFilterError("manylinux_link_command: %r needs an absolute src and dest" % (link,))
        commands.append("mkdir -p %s && ln -sfn %s %s" % (shlex.quote(os.path.dirname(dest)), shlex.quote(src),
                                                          shlex.quote(dest)))
    if not commands:
        raise AnsibleFilterError("manylinux_link_command: no links")
    return " && ".join(commands)


class FilterModule(object):
    def filters(self):
        return {
            "manylinux_target": manylinux_target,
            "manylinux_target_error": manylinux_target_error,
            "manylinux_target_error_for": manylinux_target_error_for,
            "manylinux_naming_errors": manylinux_naming_errors,
            "manylinux_source": manylinux_source,
            "manylinux_sources": manylinux_sources,
            "manylinux_commit_changes": manylinux_commit_changes,
            "manylinux_path_join": manylinux_path_join,
            "manylinux_archive_root": manylinux_archive_root,
            "manylinux_component_labels": manylinux_component_labels,
            "manylinux_offline_base": manylinux_offline_base,
            "manylinux_pushed_digests": manylinux_pushed_digests,
            "manylinux_pull_reference": manylinux_pull_reference,
            "manylinux_base_digest": manylinux_base_digest,
            "manylinux_tree_hash": manylinux_tree_hash,
            "manylinux_role_inputs": manylinux_role_inputs,
            "manylinux_labeled": manylinux_labeled,
            "manylinux_library_environment": manylinux_library_environment,
            "manylinux_cache_prune": manylinux_cache_prune,
            "manylinux_cpython_tag": manylinux_cpython_tag,
            "manylinux_options_for": manylinux_options_for,
            "manylinux_interpreter_table": manylinux_interpreter_table,
            "manylinux_downloadable_interpreters": manylinux_downloadable_interpreters,
            "manylinux_link_command": manylinux_link_command,
        }
