#!/usr/bin/python
"""The component scheduler of one build: who may start, on which engine, who is building, who finished."""

from __future__ import annotations

DOCUMENTATION = r"""
module: manylinux_build_slot
short_description: Wait for a component's turn to build, and record how it ended
description:
  - Runs on the controller. The state of one build's schedule is a JSON file in O(state_dir),
    changed under a lock, so the component hosts of one play (one per component, run at once
    with the free strategy) share it.
  - C(state=planned) writes the schedule, every component with its needs and priority, the
    cached ones already done, and the engines with their slots (O(engines); without them one local
    engine with O(parallel) slots).
  - C(state=acquired) waits until everything the component needs is built and it is among the
    ready components with the highest priorities (the longest remaining path first) that the free
    slots of the engines take, each on the first engine in order with a free slot; then it marks
    the component building there and returns that engine. It fails at once when something the
    component needs failed, or when every engine stopped answering. A light component (expected to
    take at most O(light_seconds), such as a pinned pip, wrappers, a small library) has as many
    places of its own on each engine as its slots, so that it runs beside the long compiles instead
    of after them; with one slot in all no component is light (one after another).
  - C(state=released) records that the component was built (O(succeeded)) or failed, with its
    seconds, and frees its slot. A failed component whose engine does not answer C(docker version)
    any more marks that engine lost (it gets no more components) and is queued again for the
    others (RV(requeued)); with no engine left it fails naming the engine.
  - C(state=reported) reads how the components ended; a component still waiting counts as failed.
    It also gives the schedule's critical path (from the component that ended last back through the
    component that ended last before each started, a need or a place it waited for) and the idle core-seconds of the machine
    from the plan to the last release (from C(/proc/stat), the cores no process used).
  - Each result's C(msg) says which components are building, which finished and how long they took.
options:
  state_dir:
    description: Directory of the schedule (one per build).
    type: path
    required: true
  state:
    description: What to do.
    type: str
    choices: [planned, acquired, released, reported]
    required: true
  components:
    description: For C(planned), the plan's components (name, needs, priority, cached).
    type: list
    elements: dict
  parallel:
    description: For C(planned), how many components build at once on the local engine when O(engines) is empty.
    type: int
    default: 1
  engines:
    description:
      - For C(planned), the engines in order (module C(manylinux_build_engines) checks them), each with C(name),
        C(slots) and C(docker_args) and C(environment) (how its tasks reach it).
    type: list
    elements: dict
    default: []
  light_seconds:
    description: For C(planned), the expected seconds (the plan's C(expected_seconds)) up to which a component is light.
    type: float
    default: 20
  name:
    description: For C(acquired) and C(released), the component.
    type: str
  succeeded:
    description: For C(released), whether the component's artifact was stored.
    type: bool
    default: false
  reason:
    description: For C(released) after a failure, what went wrong (kept in the schedule for the report).
    type: str
    default: ""
  poll:
    description: Seconds between looks at the schedule while waiting.
    type: float
    default: 1.0
"""

EXAMPLES = r"""
- name: Write the schedule of the components to build
  manylinux_shared.factory.manylinux_build_slot:
    state_dir: "{{ build_schedule_dir }}"
    state: planned
    components: "{{ component_build_plan.components }}"
    parallel: "{{ component_build_plan.parallel }}"

- name: Wait for this component's turn
  manylinux_shared.factory.manylinux_build_slot:
    state_dir: "{{ build_schedule_dir }}"
    state: acquired
    name: openssl

- name: Give the turn back, saying how the component ended
  manylinux_shared.factory.manylinux_build_slot:
    state_dir: "{{ build_schedule_dir }}"
    state: released
    name: openssl
    succeeded: false
    reason: "openssl make failed (exit 2)"

- name: Read how the components ended
  manylinux_shared.factory.manylinux_build_slot:
    state_dir: "{{ build_schedule_dir }}"
    state: reported
  register: schedule
"""

RETURN = r"""
engine:
  description:
    - For C(acquired), the engine the component builds on - C(name), C(docker_host), C(docker_args) (the docker
      CLI's options that reach it, one string), C(cpuset) (the CPUs its containers may use, empty for any) and
      C(environment) (C(DOCKER_HOST) and the TLS settings).
  type: dict
  returned: when state is acquired
requeued:
  description: For C(released), whether the component's engine stopped answering and it waits for another one.
  type: bool
  returned: when state is released
engines:
  description: For C(reported), each engine with the components it built and, for a lost one, why.
  type: dict
  returned: when state is reported
building:
  description: Components building after this call.
  type: list
  returned: always
finished:
  description: Components built by this build so far, with their seconds.
  type: dict
  returned: always
failures:
  description: Components that failed, with what went wrong.
  type: dict
  returned: always
seconds:
  description: For C(released), the component's build time.
  type: float
  returned: when state is released
critical_path:
  description: For C(reported), the components of the critical path in build order, each with its seconds.
  type: list
  elements: dict
  returned: when state is reported
span:
  description: For C(reported), seconds from the plan to the last component's end.
  type: float
  returned: when state is reported
idle_core_seconds:
  description: For C(reported), core-seconds no process used from the plan to the last release (null without /proc/stat).
  type: float
  returned: when state is reported
"""

import fcntl
import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_engines import (
    LOCAL, not_answering)

SCHEDULE = "schedule.json"
# Expected seconds up to which a component is light (option light_seconds).
LIGHT_SECONDS = 20.0


def idle_jiffies(path="/proc/stat"):
    """The machine's idle and iowait time so far, in clock ticks (None where there is no /proc/stat)."""
    try:
        with open(path) as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    return int(fields[4]) + int(fields[5])


class ScheduleError(Exception):
    pass


class Schedule:
    """The schedule file, read and written under an exclusive lock."""

    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, SCHEDULE)
        self.lock_path = os.path.join(state_dir, "lock")

    def __enter__(self):
        os.makedirs(self.state_dir, exist_ok=True)
        self.lock = open(self.lock_path, "a")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        try:
            with open(self.path) as handle:
                self.data = json.load(handle)
        except (OSError, ValueError):
            self.data = None
        return self

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(self.data, handle, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def __exit__(self, *exc):
        fcntl.flock(self.lock, fcntl.LOCK_UN)
        self.lock.close()
        return False


def planned(state_dir, components, parallel, light_seconds=LIGHT_SECONDS, clock=time.time, engines=None):
    parallel = max(1, int(parallel))
    engines = engines or [{"name": LOCAL, "slots": parallel}]
    engine_table = {e["name"]: {"slots": max(1, int(e.get("slots") or parallel)), "order": i,
                                "docker_host": e.get("docker_host", ""),
                                "docker_args": " ".join(e.get("docker_args") or []), "cpuset": e.get("cpuset", ""),
                                "environment": dict(e.get("environment") or {}), "lost": None}
                    for i, e in enumerate(engines)}
    slots = sum(e["slots"] for e in engine_table.values())
    with Schedule(state_dir) as schedule:
        schedule.data = {"parallel": parallel, "planned": clock(), "idle_start": idle_jiffies(), "engines": engine_table,
                         "components": {
            c["name"]: {"needs": list(c.get("needs", [])), "priority": float(c.get("priority", 0)),
                        "state": "cached" if c.get("cached") else "waiting", "order": i,
                        "light": slots > 1 and float(c.get("expected_seconds", light_seconds + 1)) <= light_seconds}
            for i, c in enumerate(components)}}
        schedule.save()
        return summary(schedule.data)


def summary(data):
    comps = data["components"]
    return {
        "building": sorted(n for n, c in comps.items() if c["state"] == "building"),
        "finished": {n: c.get("seconds", 0) for n, c in comps.items() if c["state"] == "built"},
        "failures": {n: c.get("reason", "") for n, c in comps.items() if c["state"] == "failed"},
        "waiting": sorted(n for n, c in comps.items() if c["state"] == "waiting"),
    }


def _ready(comps, name):
    return all(comps[n]["state"] in ("built", "cached") for n in comps[name]["needs"])


def _engines_left(data):
    return sorted((n for n, e in data["engines"].items() if not e["lost"]), key=lambda n: data["engines"][n]["order"])


def _lost_engines(data):
    return "; ".join("engine %s stopped answering (%s)" % (n, e["lost"]) for n, e in sorted(data["engines"].items())
                     if e["lost"])


def placement(data):
    """Which waiting components start now, and where: {component: engine}.

    The ready components, the longest remaining path (the highest priority) first, take the free slots
    of the engines that still answer, in the engines' order; light components take the light places,
    as many on each engine as its slots. Pure: no docker, no clock."""
    comps, engines = data["components"], data["engines"]
    left = _engines_left(data)
    placed = {}
    for light in (False, True):
        kind = [n for n, c in comps.items() if c.get("light", False) == light]
        free = []
        for engine in left:
            used = sum(1 for n in kind if comps[n]["state"] == "building" and comps[n].get("engine", LOCAL) == engine)
            free += [engine] * max(0, engines[engine]["slots"] - used)
        ready = sorted((n for n in kind if comps[n]["state"] == "waiting" and _ready(comps, n)),
                       key=lambda n: (-comps[n]["priority"], comps[n]["order"]))
        placed.update(zip(ready, free))
    return placed


def try_acquire(data, name, now):
    """One look at the schedule: the engine `name` starts on now (and it is marked building there), else None."""
    comps = data["components"]
    if name not in comps:
        raise ScheduleError("%s is not in this build's schedule" % name)
    me = comps[name]
    if me["state"] != "waiting":
        raise ScheduleError("%s is %s, not waiting to build" % (name, me["state"]))
    failed = [n for n in me["needs"] if comps[n]["state"] == "failed"]
    if failed:
        me["state"] = "failed"
        me["reason"] = "needs %s, which failed" % ", ".join(failed)
        raise ScheduleError("%s is not built: it needs %s, which failed" % (name, ", ".join(failed)))
    if not _engines_left(data):
        me["state"] = "failed"
        me["reason"] = "no engine is left to build it: %s" % _lost_engines(data)
        raise ScheduleError("%s is not built: %s" % (name, me["reason"]))
    engine = placement(data).get(name)
    if engine is None:
        return None
    me["state"] = "building"
    me["started"] = now
    me["engine"] = engine
    return engine


def engine_of(data, name):
    """What a component host needs to reach the engine it builds on."""
    engine = data["engines"][data["components"][name].get("engine", LOCAL)]
    return {"name": data["components"][name].get("engine", LOCAL), "docker_host": engine["docker_host"],
            "docker_args": engine["docker_args"], "cpuset": engine.get("cpuset", ""),
            "environment": engine["environment"]}


def acquired(state_dir, name, poll=1.0, clock=time.time, sleep=time.sleep):
    # A look that changes nothing writes nothing: a score of components wait for hours.
    while True:
        with Schedule(state_dir) as schedule:
            if schedule.data is None:
                raise ScheduleError("no schedule in %s: the plan did not run" % state_dir)
            try:
                started = try_acquire(schedule.data, name, clock())
            except ScheduleError:
                schedule.save()  # it may have been marked failed
                raise
            if started:
                schedule.save()
                result = summary(schedule.data)
                result["engine"] = engine_of(schedule.data, name)
                return result
        sleep(poll)


def release(data, name, succeeded, reason, now, engine_lost=None):
    """Record how `name` ended (pure). `engine_lost`: why its engine does not answer (None: it does).

    Returns (seconds, requeued): a component whose engine was lost waits again for another engine, or
    fails naming the engine when none is left."""
    me = data["components"][name]
    seconds = round(now - me.get("started", now), 1) if me["state"] == "building" else 0.0
    requeued = False
    if me["state"] == "building" and not succeeded and engine_lost:
        engine = me.get("engine", LOCAL)
        if not data["engines"][engine]["lost"]:
            data["engines"][engine]["lost"] = "%s, found when %s failed" % (engine_lost, name)
        me.setdefault("lost_on", []).append(engine)
        for key in ("started", "engine"):
            me.pop(key, None)
        if _engines_left(data):
            me["state"] = "waiting"
            return seconds, True
        reason = "its engine %s stopped answering (%s) and no engine is left; %s" % (engine, engine_lost, reason)
    if me["state"] in ("building", "waiting"):
        me["state"] = "built" if succeeded else "failed"
        me["seconds"] = seconds
        me["ended"] = now
        data["idle_end"] = idle_jiffies()
        if not succeeded:
            me["reason"] = reason or "failed"
    return seconds, requeued


def released(state_dir, name, succeeded, reason="", clock=time.time, answer=not_answering):
    with Schedule(state_dir) as schedule:
        if schedule.data is None or name not in schedule.data["components"]:
            raise ScheduleError("%s is not in the schedule of %s" % (name, state_dir))
        me = schedule.data["components"][name]
        engine = engine_of(schedule.data, name) if me["state"] == "building" else None
    # A failure on an engine that stopped answering is the engine's, not the component's: asked
    # outside the lock (it may take seconds), while the component still holds its slot.
    lost = None
    if engine is not None and not succeeded:
        lost = answer({"name": engine["name"], "docker_host": engine["docker_host"],
                       "docker_args": engine["docker_args"].split()})
    with Schedule(state_dir) as schedule:
        seconds, requeued = release(schedule.data, name, succeeded, reason, clock(), lost)
        schedule.save()
        result = summary(schedule.data)
    result["seconds"] = seconds
    result["requeued"] = requeued
    result["engine"] = engine
    return result


def reported(state_dir):
    with Schedule(state_dir) as schedule:
        if schedule.data is None:
            raise ScheduleError("no schedule in %s: the plan did not run" % state_dir)
        result = summary(schedule.data)
    for name in result["waiting"] + result["building"]:
        result["failures"].setdefault(name, "not built (its host stopped before it ended)")
    result.update(critical_path(schedule.data))
    comps = schedule.data["components"]
    result["engines"] = {
        name: {"built": sorted(n for n, c in comps.items() if c["state"] == "built" and c.get("engine", LOCAL) == name),
               "lost": engine["lost"]}
        for name, engine in sorted(schedule.data["engines"].items(), key=lambda item: item[1]["order"])}
    return result


def critical_path(data, ticks=None, slack=1.0):
    """What the build waited for: from the component that ended last, back through the component
    that ended last before each started (a need it waited for, or the one whose place it took),
    with the span and the idle core-seconds."""
    comps = data["components"]
    ended = {n: c["ended"] for n, c in comps.items() if "ended" in c}
    path = []
    name = max(ended, key=lambda n: ended[n]) if ended else None
    while name is not None:
        path.append({"name": name, "seconds": comps[name].get("seconds", 0)})
        start = comps[name].get("started", ended[name] - comps[name].get("seconds", 0))
        # a turn is taken at most a poll after the place was given back
        before = [n for n in ended if n not in (p["name"] for p in path) and ended[n] <= start + slack]
        name = max(before, key=lambda n: ended[n]) if before else None
    span = round(max(ended.values()) - data.get("planned", min(ended.values())), 1) if ended else 0.0
    idle = None
    if data.get("idle_start") is not None and data.get("idle_end") is not None:
        idle = round((data["idle_end"] - data["idle_start"]) / float(ticks or os.sysconf("SC_CLK_TCK")), 1)
    return {"critical_path": path[::-1], "span": span, "idle_core_seconds": idle}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state_dir=dict(type="path", required=True),
            state=dict(type="str", required=True, choices=["planned", "acquired", "released", "reported"]),
            components=dict(type="list", elements="dict"),
            parallel=dict(type="int", default=1),
            light_seconds=dict(type="float", default=LIGHT_SECONDS),
            name=dict(type="str"),
            succeeded=dict(type="bool", default=False),
            reason=dict(type="str", default=""),
            poll=dict(type="float", default=1.0),
            engines=dict(type="list", elements="dict", default=[]),
        ),
        required_if=[("state", "planned", ["components"]), ("state", "acquired", ["name"]),
                     ("state", "released", ["name"])],
    )
    p = module.params
    try:
        if p["state"] == "planned":
            result = planned(p["state_dir"], p["components"], p["parallel"], p["light_seconds"], engines=p["engines"])
            msg = "%d to build, %d at once (and as many light ones beside them)" % (
                len(result["waiting"]), p["parallel"])
            if len(p["engines"]) > 1:
                msg += " on the engines %s" % ", ".join(
                    "%s (%d slots)" % (e["name"], e.get("slots") or p["parallel"]) for e in p["engines"])
        elif p["state"] == "acquired":
            result = acquired(p["state_dir"], p["name"], p["poll"])
            msg = "building %s on engine %s (now building: %s; waiting: %d)" % (
                p["name"], result["engine"]["name"], ", ".join(result["building"]), len(result["waiting"]))
        elif p["state"] == "reported":
            result = reported(p["state_dir"])
            msg = "built: %s; failed: %s; critical path: %s (%.0f s of %.0f s); idle core-seconds: %s" % (
                ", ".join("%s (%.0f s)" % kv for kv in sorted(result["finished"].items())) or "none",
                ", ".join(sorted(result["failures"])) or "none",
                " -> ".join("%s %.0f s" % (c["name"], c["seconds"]) for c in result["critical_path"]) or "none",
                sum(c["seconds"] for c in result["critical_path"]), result["span"],
                "-" if result["idle_core_seconds"] is None else "%.0f" % result["idle_core_seconds"])
            if len(result["engines"]) > 1:
                msg += "; engines: %s" % "; ".join(
                    "%s built %s%s" % (name, ", ".join(e["built"]) or "nothing",
                                       " (lost: %s)" % e["lost"] if e["lost"] else "")
                    for name, e in result["engines"].items())
        else:
            result = released(p["state_dir"], p["name"], p["succeeded"], p["reason"])
            msg = "%s %s after %.0f s%s (building: %s; waiting: %d; built: %d)" % (
                p["name"], "built" if p["succeeded"] else "FAILED", result["seconds"],
                " on engine %s" % result["engine"]["name"] if result["engine"] else "",
                ", ".join(result["building"]) or "none", len(result["waiting"]), len(result["finished"]))
            if result["requeued"]:
                msg = "%s: its engine %s stopped answering; it waits for another engine" % (
                    p["name"], result["engine"]["name"])
    except ScheduleError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=p["state"] in ("acquired", "released"), msg=msg, **result)


if __name__ == "__main__":
    main()
