"""The scheduler across several engines (manylinux_build_slot) and the engines' checks (manylinux_engines)."""

import subprocess

import pytest

import manylinux_build_slot as slot
import manylinux_engines as engines  # module_utils

TWO = [{"name": "local", "slots": 2, "docker_args": [], "environment": {}},
       {"name": "far", "slots": 1, "docker_host": "tcp://far:2376", "docker_args": ["--host", "tcp://far:2376"],
        "cpuset": "1",
        "environment": {"DOCKER_HOST": "tcp://far:2376"}}]


def heavy(name, priority, needs=()):
    return {"name": name, "needs": list(needs), "priority": priority, "expected_seconds": 300}


def plan(tmp_path, components, engine_list=TWO, parallel=2):
    slot.planned(str(tmp_path), components, parallel, engines=engine_list)
    return str(tmp_path)


def start(state, *names):
    with slot.Schedule(state) as sched:
        placed = [slot.try_acquire(sched.data, n, 0) for n in names]
        sched.save()
    return placed


def test_the_longest_remaining_path_takes_the_first_free_slot(tmp_path):
    state = plan(tmp_path, [heavy("short", 10), heavy("long", 900), heavy("middle", 300), heavy("last", 1)])
    with slot.Schedule(state) as sched:
        assert slot.placement(sched.data) == {"long": "local", "middle": "local", "short": "far"}
    # asked in any order, each gets the slot its priority gives it
    assert start(state, "short", "last", "middle", "long") == ["far", None, "local", "local"]


def test_each_engine_takes_only_as_many_as_its_slots(tmp_path):
    state = plan(tmp_path, [heavy(n, 100 - i) for i, n in enumerate("abcde")])
    assert start(state, "a", "b", "c", "d") == ["local", "local", "far", None]
    slot.released(state, "c", True)                              # far's slot is free again
    assert start(state, "e", "d") == [None, "far"]               # d comes before e
    with slot.Schedule(state) as sched:
        assert sorted(n for n, c in sched.data["components"].items() if c.get("engine") == "local") == ["a", "b"]


def test_light_components_have_places_of_their_own_on_every_engine(tmp_path):
    light = [{"name": n, "needs": [], "priority": 5, "expected_seconds": 5} for n in "pqrs"]
    state = plan(tmp_path, [heavy(n, 100) for n in "abc"] + light)
    assert start(state, "a", "b", "c", "p", "q", "r", "s") == ["local", "local", "far", "local", "local", "far", None]


def test_a_need_is_waited_for_whatever_engine_builds_it(tmp_path):
    state = plan(tmp_path, [heavy("lib", 900), heavy("app", 500, ["lib"])])
    assert start(state, "app", "lib") == [None, "local"]
    slot.released(state, "lib", True)
    assert start(state, "app") == ["local"]


def test_one_engine_without_engines_is_todays_schedule(tmp_path):
    slot.planned(str(tmp_path), [heavy("a", 2), heavy("b", 1)], 1)
    assert start(str(tmp_path), "b", "a", "b") == [None, "local", None]


def test_a_lost_engine_gets_no_more_components_and_its_component_goes_to_another(tmp_path):
    state = plan(tmp_path, [heavy(n, 100 - i) for i, n in enumerate("abcd")])
    assert start(state, "a", "b", "c") == ["local", "local", "far"]
    result = slot.released(state, "c", False, "c make: docker exec failed", answer=lambda engine: "connection refused")
    assert result["requeued"] and result["engine"]["name"] == "far"
    assert "c" in result["waiting"] and result["failures"] == {}
    slot.released(state, "a", True)
    assert start(state, "d", "c") == [None, "local"]             # c before d, and never on far
    slot.released(state, "b", True)
    assert start(state, "d") == ["local"]
    report = slot.reported(state)
    assert report["engines"]["far"]["lost"] == "connection refused, found when c failed"
    assert report["engines"]["local"]["built"] == ["a", "b"]


def test_a_failure_on_an_engine_that_answers_is_the_components(tmp_path):
    state = plan(tmp_path, [heavy("a", 2), heavy("b", 1), heavy("c", 1)])
    start(state, "a", "b", "c")
    asked = []
    result = slot.released(state, "c", False, "c make failed", answer=lambda engine: asked.append(engine) or None)
    assert not result["requeued"] and result["failures"] == {"c": "c make failed"}
    assert [e["name"] for e in asked] == ["far"] and asked[0]["docker_args"] == ["--host", "tcp://far:2376"]
    # a success asks nothing
    slot.released(state, "a", True, answer=lambda engine: pytest.fail("asked"))


def test_with_every_engine_lost_the_build_fails_naming_the_engine(tmp_path):
    state = plan(tmp_path, [heavy("a", 3), heavy("b", 2), heavy("c", 1)], TWO[1:], parallel=1)
    assert start(state, "a") == ["far"]
    result = slot.released(state, "a", False, "a make: docker exec failed", answer=lambda engine: "no answer within 20 s")
    assert not result["requeued"]
    assert result["failures"]["a"].startswith("its engine far stopped answering (no answer within 20 s) and no engine")
    with pytest.raises(slot.ScheduleError, match="no engine is left to build it: engine far stopped answering"):
        slot.acquired(state, "b", poll=0)
    assert "engine far stopped answering" in slot.reported(state)["failures"]["b"]


def test_the_acquired_engine_says_how_to_reach_it(tmp_path):
    state = plan(tmp_path, [heavy("a", 3), heavy("b", 2), heavy("c", 1)])
    slot.acquired(state, "a", poll=0)
    slot.acquired(state, "b", poll=0)
    engine = slot.acquired(state, "c", poll=0)["engine"]
    assert engine == {"name": "far", "docker_host": "tcp://far:2376", "docker_args": "--host tcp://far:2376",
                      "cpuset": "1", "environment": {"DOCKER_HOST": "tcp://far:2376"}}
    assert slot.acquired(plan(tmp_path / "one", [heavy("a", 1)]), "a", poll=0)["engine"]["cpuset"] == ""


# --- the engines' checks ---------------------------------------------------------------

@pytest.mark.parametrize("values,message", [
    ({"docker_host": "tcp://h:2376", "build_slot": 2}, "engine e (inventory group manylinux_engines): unknown key build_slot"),
    ({"docker_host": "tcp://h:2376", "build_slots": 0}, "build_slots=0 is not a whole number of at least 1"),
    ({"docker_host": "tcp://h:2376", "build_slots": "two"}, "build_slots='two'"),
    ({"build_slots": 1}, "engine e (inventory group manylinux_engines): docker_host is required"),
    ({"docker_host": "http://h"}, "docker_host='http://h' is not ssh://user@host, tcp://host:port or unix:///path"),
    ({"docker_host": "ssh://u@h", "docker_cert_path": "/nowhere"}, "docker_cert_path is for a tcp:// docker_host"),
    ({"docker_host": "tcp://h:2376", "docker_cert_path": "/nowhere"}, "holding ca.pem, cert.pem, key.pem"),
    ({"docker_host": "tcp://h:2376", "build_cpuset": "0-"}, "build_cpuset='0-' is not a list of CPUs and ranges"),
    ({"docker_host": "tcp://h:2376", "build_cpuset": "all"}, "build_cpuset='all'"),
])
def test_a_bad_engine_is_named_with_the_rule(values, message):
    errors = engines.engine_errors([{"name": "e", "vars": values}])
    assert any(message in e for e in errors), errors


def test_the_local_engine_sets_only_its_slots_and_names_are_unique():
    errors = engines.engine_errors([{"name": "local", "vars": {"docker_host": "tcp://h:1"}},
                                    {"name": "x", "vars": {"docker_host": "ssh://u@x"}},
                                    {"name": "x", "vars": {"docker_host": "ssh://u@x"}}])
    assert "the local engine is the controller's own" in errors[0]
    assert errors[1] == "engines named twice: x"


def test_good_engines_pass_and_local_comes_first(tmp_path):
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    given = [{"name": "tls", "vars": {"docker_host": "tcp://h:2376", "docker_cert_path": str(tmp_path), "build_slots": 4}},
             {"name": "socket", "vars": {"docker_host": "unix:///run/other.sock"}},
             {"name": "local", "vars": {"build_slots": 3, "build_cpuset": "0-1,3"}}]
    assert engines.engine_errors(given) == []
    local, tls, socket = engines.engines_of(given, local_slots=2)
    assert (local["name"], local["slots"], local["docker_args"], local["environment"]) == ("local", 3, [], {})
    assert (local["cpuset"], tls["cpuset"]) == ("0-1,3", "")
    assert tls["slots"] == 4 and tls["docker_args"][:3] == ["--host", "tcp://h:2376", "--tlsverify"]
    assert tls["environment"] == {"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1",
                                  "DOCKER_CERT_PATH": str(tmp_path)}
    assert socket["slots"] == 1 and socket["environment"] == {"DOCKER_HOST": "unix:///run/other.sock"}
    assert engines.engines_of([], local_slots=2) == [{"name": "local", "slots": 2, "docker_host": "", "docker_cert_path": "",
                                                      "cpuset": "", "docker_args": [], "environment": {}}]


def test_an_engine_that_does_not_answer_says_why():
    def refused(command, **kwargs):
        assert command[:3] == ["docker", "--host", "unix:///run/none.sock"]
        return subprocess.CompletedProcess(command, 1, "", "Cannot connect to the Docker daemon at unix:///run/none.sock\n")

    def hangs(command, **kwargs):
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    engine = engines.engines_of([{"name": "e", "vars": {"docker_host": "unix:///run/none.sock"}}])[1]
    assert engines.not_answering(engine, run=refused) == "Cannot connect to the Docker daemon at unix:///run/none.sock"
    assert engines.not_answering(engine, timeout=3, run=hangs) == "no answer within 3 s"
    assert engines.not_answering(engine, run=lambda c, **k: subprocess.CompletedProcess(c, 0, "28.2\n", "")) is None


def test_the_inventory_filter_gives_each_engine_only_what_it_sets_itself():
    import manylinux_engine_inventory as inventory
    shared = {"inventory_hostname": "localhost", "build_parallel": 0, "group_names": []}
    hostvars = {"localhost": dict(shared, ansible_connection="local"),
                "far": dict(shared, inventory_hostname="far", docker_host="ssh://u@far", build_slot=2,
                            ansible_host="far.example")}
    assert inventory.manylinux_engine_vars(["far"], hostvars, "localhost") == [
        {"name": "far", "vars": {"build_slot": 2, "docker_host": "ssh://u@far"}}]
    assert inventory.manylinux_engine_vars([], hostvars, "localhost") == []


def test_the_check_names_every_broken_rule_and_every_engine_that_does_not_answer():
    import manylinux_build_engines as module
    with pytest.raises(module.EngineError, match="unknown key slots.*build_slots=0"):
        module.checked([{"name": "a", "vars": {"docker_host": "ssh://u@a", "slots": 2}},
                        {"name": "b", "vars": {"docker_host": "ssh://u@b", "build_slots": 0}}],
                       answer=lambda engine: pytest.fail("asked before the rules hold"))
    silent = {"b": "Cannot connect to the Docker daemon"}
    with pytest.raises(module.EngineError, match=r"build engine b \(ssh://u@b\) does not answer: Cannot connect"):
        module.checked([{"name": "a", "vars": {"docker_host": "ssh://u@a"}}, {"name": "b", "vars": {"docker_host": "ssh://u@b"}}],
                       answer=lambda engine: silent.get(engine["name"]))
    engines = module.checked([{"name": "a", "vars": {"docker_host": "ssh://u@a", "build_slots": 3}}], 2,
                             answer=lambda engine: None)
    assert [(e["name"], e["slots"]) for e in engines] == [("local", 2), ("a", 3)]
