"""The pin updater of the base images, module manylinux_base_pins: plan, the YAML rewrite keeping comments,
errors, and a fake registry on 127.0.0.1 (credentials, a missing tag, a registry that is down)."""

import base64
import functools
import http.server
import json
import os
import shutil
import socket
import threading

import pytest
import yaml
import manylinux_base_pins as pins
import manylinux_registry as registry_client
import manylinux_yaml_edit as yaml_edit

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
POLICIES = os.path.join(ROOT, "inventories", "default", "group_vars", "all", "policies.yml")
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def params(path, **overrides):
    values = {"policies_file": str(path), "policies": [], "local_repositories": ["manylinux-shared/base"],
              "insecure_registries": [], "login_registry": "", "username": "", "password": "", "docker_config": "",
              "timeout": 5}
    values.update(overrides)
    return values


class FakeResolver:
    """resolve() of the module: digests by `name:tag`, a PinError for the names in `fail`; records the calls."""

    def __init__(self, digests, fail=()):
        self.digests, self.fail, self.calls = digests, set(fail), []

    def __call__(self, ref):
        self.calls.append(ref.text)
        key = "%s:%s" % (ref.name, ref.tag)
        if key in self.fail:
            raise pins.PinError("%s: cannot reach the registry %s" % (ref.text, ref.registry))
        return self.digests[key]


REAL_DIGESTS = {"quay.io/pypa/manylinux2014_base:2025.11.10-3": D1, "almalinux:8": D2, "ubuntu:20.04": D3,
                "almalinux:9": D1, "almalinux:10": D2, "alpine:3.22": D3}


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "policies.yml"
    shutil.copy(POLICIES, path)
    return path


# --- the module: plan and rewrite --------------------------------------------

def changed_lines(before, after):
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new), "lines were added or removed"
    return [(a, b) for a, b in zip(old, new) if a != b]


def test_every_base_is_pinned_and_nothing_else_of_the_table_changes(table):
    before = table.read_text()
    table.chmod(0o640)
    resolve = FakeResolver(REAL_DIGESTS)
    result = pins.run(params(table), False, resolve=resolve)
    assert result["changed"] and result["rewritten"] == [str(table)]
    assert sorted(resolve.calls) == sorted(REAL_DIGESTS)
    assert {p["status"] for p in result["pins"]} == {"pinned"}
    after = table.read_text()
    assert table.stat().st_mode & 0o777 == 0o640
    assert not [name for name in os.listdir(table.parent) if name.startswith(".edit-")]
    # the comments, the anchors, the flow mappings and the quoting stay: only the base_image lines change
    assert changed_lines(before, after) == [
        ("    base_image: %s" % name, "    base_image: %s@%s" % (name, digest)) for name, digest in REAL_DIGESTS.items()]
    data = yaml.safe_load(after)
    assert data["build_policy_table"]["manylinux2014"]["base_image"] \
        == "quay.io/pypa/manylinux2014_base:2025.11.10-3@" + D1
    assert "manylinux2014: quay.io/pypa/manylinux2014_base:2025.11.10-3 pinned to " \
        "quay.io/pypa/manylinux2014_base:2025.11.10-3@" + D1 in result["summary"]


def test_a_second_run_changes_nothing_and_a_moved_tag_is_followed(table):
    pins.run(params(table), False, resolve=FakeResolver(REAL_DIGESTS))
    pinned = table.read_text()
    again = pins.run(params(table), False, resolve=FakeResolver(REAL_DIGESTS))
    assert not again["changed"] and again["rewritten"] == []
    assert {p["status"] for p in again["pins"]} == {"current"}
    assert table.read_text() == pinned
    # quay.io's tag moved: re-resolved from the tag, not from the pinned digest
    moved = dict(REAL_DIGESTS, **{"quay.io/pypa/manylinux2014_base:2025.11.10-3": D2})
    resolve = FakeResolver(moved)
    result = pins.run(params(table), False, resolve=resolve)
    assert "quay.io/pypa/manylinux2014_base:2025.11.10-3@" + D1 in resolve.calls
    assert [(p["policy"], p["status"]) for p in result["pins"] if p["status"] != "current"] \
        == [("manylinux2014", "moved")]
    assert changed_lines(pinned, table.read_text()) == [
        ("    base_image: quay.io/pypa/manylinux2014_base:2025.11.10-3@" + D1,
         "    base_image: quay.io/pypa/manylinux2014_base:2025.11.10-3@" + D2)]


def test_check_mode_only_reports(table):
    before = table.read_text()
    result = pins.run(params(table), True, resolve=FakeResolver(REAL_DIGESTS))
    assert result["changed"] and result["rewritten"] == []
    assert table.read_text() == before
    assert any(line.startswith("manylinux_2_28: almalinux:8 would be pinned to almalinux:8@") for line in
               result["summary"])


def test_a_registry_that_fails_rewrites_nothing_and_names_the_image(table):
    before = table.read_text()
    resolve = FakeResolver(REAL_DIGESTS, fail=["almalinux:9", "alpine:3.22"])
    with pytest.raises(pins.PinError) as err:
        pins.run(params(table), False, resolve=resolve)
    message = str(err.value)
    assert message.startswith("nothing was rewritten: ")
    assert "manylinux_2_34: almalinux:9: cannot reach the registry docker.io" in message
    assert "musllinux_1_2: alpine:3.22: cannot reach" in message
    assert "manylinux2014" not in message
    assert table.read_text() == before


def test_bad_entries_and_unknown_policies_fail_before_any_registry_is_asked(tmp_path, table):
    resolve = FakeResolver(REAL_DIGESTS)
    with pytest.raises(pins.PinError, match="unknown policies manylinux1; valid policies: manylinux2014, "
                                            "manylinux_2_28, manylinux_2_31"):
        pins.run(params(table, policies=["manylinux1", "manylinux2014"]), False, resolve=resolve)
    bad = tmp_path / "bad.yml"
    bad.write_text("---\nbuild_policy_table:\n  a:\n    base_image: Almalinux:8\n    arches:\n"
                   "      x86_64: {base_image: 'almalinux@%s'}\n  b:\n    base_image: almalinux:8\n" % D1)
    before = bad.read_text()
    with pytest.raises(pins.PinError) as err:
        pins.run(params(bad), False, resolve=resolve)
    assert "a: 'Almalinux:8' is not an image reference" in str(err.value)
    assert "a/x86_64: almalinux@%s has no tag to resolve" % D1 in str(err.value)
    assert resolve.calls == [] and bad.read_text() == before
    bad.write_text("---\nbuild_policies: {}\n")
    with pytest.raises(pins.PinError, match="has no build_policy_table mapping"):
        pins.run(params(bad), False, resolve=resolve)
    bad.write_text("---\nbuild_policy_table: {a: [\n")
    with pytest.raises(pins.PinError, match="cannot read the policy table %s: " % bad):
        pins.run(params(bad), False, resolve=resolve)
    with pytest.raises(pins.PinError, match="cannot read the policy table %s: " % (tmp_path / "absent.yml")):
        pins.run(params(tmp_path / "absent.yml"), False, resolve=resolve)


def test_only_the_given_policies_and_never_a_local_image(tmp_path):
    path = tmp_path / "policies.yml"
    path.write_text("---\n# the table\nbuild_policy_table:\n  a:\n    base_image: \"almalinux:8\"  # quoted\n"
                    "    arches:\n      x86_64: {}\n      armv7l:\n        # an arch of its own\n"
                    "        base_image: 'alpine:3.22'\n"
                    "  b:\n    base_image: almalinux:9\n"
                    "  c:\n    base_image: manylinux-shared/base:manylinux_2_31-amd64\n")
    resolve = FakeResolver(REAL_DIGESTS)
    result = pins.run(params(path, policies=["a", "c"]), False, resolve=resolve)
    assert sorted(resolve.calls) == ["almalinux:8", "alpine:3.22"]
    assert [(p["policy"], p["arch"], p["status"]) for p in result["pins"]] \
        == [("a", "", "pinned"), ("a", "armv7l", "pinned"), ("c", "", "held")]
    # each scalar keeps its quotes and its comment (one space before it, past the column it had)
    assert path.read_text() == (
        "---\n# the table\nbuild_policy_table:\n  a:\n    base_image: \"almalinux:8@%s\" # quoted\n"
        "    arches:\n      x86_64: {}\n      armv7l:\n        # an arch of its own\n"
        "        base_image: 'alpine:3.22@%s'\n"
        "  b:\n    base_image: almalinux:9\n"
        "  c:\n    base_image: manylinux-shared/base:manylinux_2_31-amd64\n" % (D2, D3))


def test_a_round_trip_that_would_change_more_than_the_pins_writes_nothing(table):
    class Lossy:
        """A YAML dumper that drops a policy."""

        def __init__(self, real):
            self.real = real

        def dump(self, data, out):
            del data["build_policy_table"]["musllinux_1_2"]
            self.real.dump(data, out)

    before = table.read_text()
    round_trip, data = yaml_edit.load(before)
    pin = {"policy": "manylinux2014", "arch": "", "pinned": "quay.io/pypa/manylinux2014_base:2025.11.10-3@" + D1,
           "holder": data["build_policy_table"]["manylinux2014"]}
    moved = []
    with pytest.raises(pins.PinError, match="would change more than the pins"):
        pins.rewrite(str(table), before, data, [pin], Lossy(round_trip), lambda tmp, path: moved.append(tmp))
    assert moved == [] and table.read_text() == before
    assert not [name for name in os.listdir(table.parent) if name.startswith(".edit-")]


# --- the module against a registry on 127.0.0.1 ------------------------------

class FakeRegistry(http.server.BaseHTTPRequestHandler):
    """HEAD /v2/<repository>/manifests/<tag> behind Basic auth; `manifests` {(repository, tag): digest}."""

    def __init__(self, *args, state=None, **kwargs):
        self.state = state
        super().__init__(*args, **kwargs)

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.state["seen"].append(self.headers.get("Authorization", ""))
        if self.headers.get("Authorization") != self.state["authorization"]:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
            self.end_headers()
            return
        repository, _, tag = self.path[len("/v2/"):].rpartition("/manifests/")
        digest = self.state["manifests"].get((repository, tag))
        self.send_response(200 if digest else 404)
        if digest:
            self.send_header("Docker-Content-Digest", digest)
            self.send_header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def fake_registry():
    state = {"authorization": "Basic " + base64.b64encode(b"puller:s3cret-token").decode(), "seen": [],
             "manifests": {("itest/base", "1"): D1}}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(FakeRegistry, state=state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["address"] = "127.0.0.1:%d" % server.server_address[1]
    yield state
    server.shutdown()
    server.server_close()


def docker_config(tmp_path, registry, user, password):
    config = tmp_path / "docker"
    config.mkdir()
    auth = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {"https://" + registry: {"auth": auth}}}))
    return str(config)


def one_base(tmp_path, image):
    path = tmp_path / "policies.yml"
    path.write_text("---\nbuild_policy_table:\n  manylinux2014:\n    base_image: %s\n" % image)
    return path


def test_the_registry_is_asked_with_the_docker_configs_credentials(tmp_path, fake_registry):
    address = fake_registry["address"]
    path = one_base(tmp_path, address + "/itest/base:1")
    config = docker_config(tmp_path, address, "puller", "s3cret-token")
    result = pins.run(params(path, insecure_registries=[address], docker_config=config), False)
    assert result["pins"][0]["digest"] == D1
    assert yaml.safe_load(path.read_text())["build_policy_table"]["manylinux2014"]["base_image"] \
        == "%s/itest/base:1@%s" % (address, D1)
    assert "s3cret-token" not in json.dumps(result)


def test_the_given_credentials_go_to_their_registry_only(tmp_path, fake_registry):
    address = fake_registry["address"]
    path = one_base(tmp_path, address + "/itest/base:1")
    given = params(path, insecure_registries=[address], login_registry=address, username="puller",
                   password="s3cret-token", docker_config=str(tmp_path / "none"))
    assert pins.run(given, False)["pins"][0]["digest"] == D1
    # for another registry they are not sent: anonymous, refused, and named
    path.write_text(path.read_text().replace("@" + D1, ""))
    fake_registry["seen"].clear()
    with pytest.raises(pins.PinError) as err:
        pins.run(dict(given, login_registry="ghcr.io"), False)
    assert "%s/itest/base:1: the registry %s answered: manifest 1 of itest/base: HTTP 401" % (address, address) \
        in str(err.value)
    assert "s3cret-token" not in str(err.value)
    assert fake_registry["seen"] and all("cHVsbGVyOnMzY3JldC10b2tlbg" not in seen for seen in fake_registry["seen"])


def test_a_missing_tag_and_a_registry_that_is_down_are_named(tmp_path, fake_registry):
    address = fake_registry["address"]
    config = docker_config(tmp_path, address, "puller", "s3cret-token")
    path = one_base(tmp_path, address + "/itest/base:2")
    before = path.read_text()
    with pytest.raises(pins.PinError, match="manylinux2014: %s/itest/base:2: the registry %s has no tag 2 in itest/base"
                                            % (address, address)):
        pins.run(params(path, insecure_registries=[address], docker_config=config), False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        down = "127.0.0.1:%d" % sock.getsockname()[1]
    path.write_text("---\nbuild_policy_table:\n  a:\n    base_image: %s/x:1\n  b:\n    base_image: %s/y:1\n"
                    % (down, down))
    before = path.read_text()
    with pytest.raises(pins.PinError) as err:
        pins.run(params(path, insecure_registries=[down], docker_config=config), False)
    assert "a: %s/x:1: cannot reach the registry %s (http://%s): " % (down, down, down) in str(err.value)
    # one unreachable registry is asked once
    assert "b: %s/y:1: not asked, cannot reach the registry %s" % (down, down) in str(err.value)
    assert path.read_text() == before


@pytest.mark.parametrize("key", ["127.0.0.1:5000", "https://127.0.0.1:5000", "http://127.0.0.1:5000/v2/"])
def test_docker_config_auths_are_found_by_their_host(tmp_path, key):
    (tmp_path / "config.json").write_text(json.dumps({"auths": {
        key: {"auth": base64.b64encode(b"u:p:with:colons").decode()},
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:token").decode()}}}))
    assert registry_client.docker_config_credentials("127.0.0.1:5000", str(tmp_path)) == ("u", "p:with:colons")
    assert registry_client.docker_config_credentials("docker.io", str(tmp_path)) == ("hub", "token")
    assert registry_client.docker_config_credentials("quay.io", str(tmp_path)) == ("", "")
    assert registry_client.docker_config_credentials("quay.io", str(tmp_path / "absent")) == ("", "")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(RuntimeError, match="cannot read the Docker client configuration"):
        registry_client.docker_config_credentials("quay.io", str(tmp_path))
