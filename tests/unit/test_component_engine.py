"""The component engine's logic without Ansible's plumbing: plan, schedule, pack."""

import json
import os
import shutil
import subprocess
import tarfile
import threading
import time

import pytest

import manylinux_build_slot as slot
import manylinux_component_pack as pack
import manylinux_component_plan as plan

SOURCES = {
    "lib-1.0": {"name": "lib", "version": "1.0", "file": "lib-1.0.tar.gz", "url": "https://example.invalid/lib",
                "sha256": "a" * 64},
    "app-2.0": {"name": "app", "version": "2.0", "file": "app-2.0.tar.gz", "url": "https://example.invalid/app",
                "sha256": "b" * 64},
}


def lib(**extra):
    entry = {"name": "lib", "version": "1.0", "sources": ["lib-1.0"], "prefixes": ["/opt/lib"],
             "steps": [{"name": "make", "cmd": "make -j@JOBS@"}],
             "exports": {"environment": {"CPPFLAGS": "-I/opt/lib/include", "PKG_CONFIG_PATH": "/opt/lib/lib/pkgconfig"},
                         "options": [{"option": "--with-lib", "since": "3.13"}, {"option": "--old-lib", "before": "3.11"}]}}
    entry.update(extra)
    return entry


def app(version="3.13.1", **extra):
    entry = {"name": "app", "version": version, "sources": ["app-2.0"], "needs": ["lib"], "prefixes": ["/opt/app"],
             "environment": {"CPPFLAGS": "-O2"}, "options": ["--prefix=/opt/app", "A B"],
             "steps": [{"name": "configure", "cmd": "./configure @OPTIONS@"}]}
    entry.update(extra)
    return entry


def run_plan(components, tmp_path, **kwargs):
    args = dict(sources=SOURCES, build_base="sha256:build", engine="e", platform="linux/amd64",
                cache_dir=str(tmp_path / "cache"), layer_base="sha256:runtime",
                base_environment={"PKG_CONFIG_PATH": "/usr/local/lib/pkgconfig"}, cores=2, memory_gib=24)
    args.update(kwargs)
    return plan.plan(components, **args)


def by_name(result):
    return {c["name"]: c for c in result["components"]}


# --- plan ---------------------------------------------------------------------------

def test_needs_come_first_and_exports_reach_what_needs_them(tmp_path):
    result = run_plan([app(), lib()], tmp_path)
    assert result["order"] == ["lib", "app"]
    record = by_name(result)["app"]
    assert record["imports"] == ["lib"]
    assert record["environment"] == {"CPPFLAGS": "-I/opt/lib/include -O2",
                                     "PKG_CONFIG_PATH": "/opt/lib/lib/pkgconfig:/usr/local/lib/pkgconfig"}
    # exported options by the consumer's version, quoted into @OPTIONS@
    assert record["options"] == ["--prefix=/opt/app", "A B", "--with-lib"]
    assert record["steps"][0]["cmd"] == "./configure --prefix=/opt/app 'A B' --with-lib"
    old = by_name(run_plan([app("3.10.2"), lib()], tmp_path))["app"]
    assert old["options"] == ["--prefix=/opt/app", "A B", "--old-lib"]
    # @JOBS@ is left for the engine: make -j is no part of a key
    assert by_name(result)["lib"]["steps"][0]["cmd"] == "make -j@JOBS@"


def test_imports_as_takes_exported_variables_under_other_names(tmp_path):
    # CPython takes the libraries' CPPFLAGS/LDFLAGS as *_NODIST: sysconfig keeps them from user extensions
    two = lib(name="two", prefixes=["/opt/two"],
              exports={"environment": {"CPPFLAGS": "-I/opt/two/include", "LDFLAGS": "-L/opt/two/lib"}})
    consumer = app(needs=["lib", "two"], environment={"CFLAGS_NODIST": "-O2"},
                   imports_as={"CPPFLAGS": "CFLAGS_NODIST", "LDFLAGS": "LDFLAGS_NODIST"})
    record = by_name(run_plan([lib(), two, consumer], tmp_path))["app"]
    assert record["environment"] == {
        "CFLAGS_NODIST": "-I/opt/lib/include -I/opt/two/include -O2",
        "LDFLAGS_NODIST": "-L/opt/two/lib",
        "PKG_CONFIG_PATH": "/opt/lib/lib/pkgconfig:/usr/local/lib/pkgconfig"}
    # two exported names taken as one are both kept
    both = by_name(run_plan([two, app(needs=["two"], environment={}, imports_as={"CPPFLAGS": "F", "LDFLAGS": "F"})],
                            tmp_path))["app"]
    assert both["environment"] == {"F": "-I/opt/two/include -L/opt/two/lib"}


def test_exported_steps_run_first_for_the_versions_they_name(tmp_path):
    patch = {"name": "patch", "cmd": "sed -i s/a/b/ setup.py", "before": "3.11"}
    components = [lib(exports={"steps": [patch]})]
    old = by_name(run_plan(components + [app("3.9.2")], tmp_path))["app"]
    assert [s["name"] for s in old["steps"]] == ["patch", "configure"]
    assert old["steps"][0]["cmd"] == "sed -i s/a/b/ setup.py"
    new = by_name(run_plan(components + [app("3.13.1")], tmp_path))["app"]
    assert [s["name"] for s in new["steps"]] == ["configure"]
    assert old["key"] != by_name(run_plan([lib()] + [app("3.9.2")], tmp_path))["app"]["key"]


def test_exports_as_a_whole_hold_for_the_versions_they_name(tmp_path):
    # mpdecimal: CPython before 3.13 builds its bundled libmpdec and must not see the library's headers
    exports = dict(lib()["exports"], since="3.13")
    old = by_name(run_plan([lib(exports=exports), app("3.9.2")], tmp_path))["app"]
    assert old["environment"] == {"CPPFLAGS": "-O2"}
    assert old["options"] == ["--prefix=/opt/app", "A B"] and old["needs"] == ["lib"]
    new = by_name(run_plan([lib(exports=exports), app("3.13.1")], tmp_path))["app"]
    assert new["environment"]["CPPFLAGS"] == "-I/opt/lib/include -O2" and "--with-lib" in new["options"]
    with pytest.raises(plan.PlanError, match="exports may hold environment, options, steps, since and before only"):
        run_plan([lib(exports={"when": "3.13"}), app()], tmp_path)


def test_a_need_may_be_a_path_in_another_components_prefix(tmp_path):
    result = run_plan([lib(), app(needs=["/opt/lib/bin/tool"])], tmp_path)
    assert by_name(result)["app"]["needs"] == ["lib"]
    with pytest.raises(plan.PlanError, match="needs /opt/none, which no component installs"):
        run_plan([lib(), app(needs=["/opt/none"])], tmp_path)


def test_imports_are_transitive(tmp_path):
    top = {"name": "top", "version": "1", "needs": ["app"], "prefixes": ["/opt/top"]}
    result = run_plan([lib(), app(), top], tmp_path)
    assert by_name(result)["top"]["imports"] == ["lib", "app"]


@pytest.mark.parametrize("components, message", [
    ([lib(), lib()], "two components are named lib"),
    ([app()], "needs lib, which is not a component of this build"),
    ([lib(needs=["app"]), app()], "cycle: "),
    ([lib(sources=["nope-1"])], "source nope-1 is not in build_sources"),
    ([lib(prefixes=["relative"])], "is not an absolute path"),
    ([lib(bogus=1)], "unknown keys bogus"),
    ([lib(steps=[{"name": "x"}])], "needs a name and a cmd"),
    ([lib(name="a/b")], "letters, digits"),
    ([{"name": "x", "version": "1", "prefixes": ["/x"], "files": [{"dest": "/f"}]}], "one of src or content"),
    ([lib(exports={"steps": [{"name": "s"}]})], "an exported step is"),
    ([lib(exports={"files": []})], "environment, options, steps, since and before only"),
    ([app(imports_as={"CPPFLAGS": "NOT A NAME"}), lib()], "imports_as maps variable names"),
])
def test_bad_entries_are_named(components, message, tmp_path):
    with pytest.raises(plan.PlanError, match=message):
        run_plan(components, tmp_path)


def test_every_broken_rule_is_reported_at_once(tmp_path):
    with pytest.raises(plan.PlanError) as error:
        run_plan([lib(bogus=1), {"name": "x"}], tmp_path)
    assert "unknown keys bogus" in str(error.value) and "component x: version is required" in str(error.value)


def keys(result):
    return {c["name"]: c["key"] for c in result["components"]}


def test_a_key_follows_what_the_component_depends_on(tmp_path):
    base = keys(run_plan([lib(), app()], tmp_path))
    # the weight only schedules
    assert keys(run_plan([lib(weight=999), app()], tmp_path)) == base
    # an option of app: app only
    changed = keys(run_plan([lib(), app(options=["--prefix=/opt/app", "--more"])], tmp_path))
    assert changed["lib"] == base["lib"] and changed["app"] != base["app"]
    # lib's step: lib and what needs it
    changed = keys(run_plan([lib(steps=[{"name": "make", "cmd": "make V=1"}]), app()], tmp_path))
    assert changed["lib"] != base["lib"] and changed["app"] != base["app"]
    # a source pin, the build base, the engine, the platform: everything they reach
    other = dict(SOURCES, **{"lib-1.0": dict(SOURCES["lib-1.0"], sha256="c" * 64)})
    changed = keys(run_plan([lib(), app()], tmp_path, sources=other))
    assert changed["lib"] != base["lib"] and changed["app"] != base["app"]
    for arg, value in (("build_base", "sha256:other"), ("engine", "f"), ("platform", "linux/arm/v7")):
        assert set(keys(run_plan([lib(), app()], tmp_path, **{arg: value})).values()).isdisjoint(base.values())


def test_a_files_content_is_part_of_the_key(tmp_path):
    source = tmp_path / "req.txt"
    source.write_text("pip==1\n")
    first = keys(run_plan([lib(files=[{"src": str(source), "dest": "/tmp/req.txt"}])], tmp_path))
    source.write_text("pip==2\n")
    assert keys(run_plan([lib(files=[{"src": str(source), "dest": "/tmp/req.txt"}])], tmp_path)) != first
    with pytest.raises(plan.PlanError, match="does not exist on the controller"):
        run_plan([lib(files=[{"src": str(tmp_path / "missing"), "dest": "/x"}])], tmp_path)


def test_where_a_file_lies_on_the_controller_is_no_part_of_the_key(tmp_path):
    # a clone in another folder, another user's wheel cache: the same bytes, the same key
    first, second = tmp_path / "clone-a", tmp_path / "clone-b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "req.txt").write_text("pip==1\n")
    keyed = [keys(run_plan([lib(files=[{"src": str(folder / "req.txt"), "dest": "/tmp/req.txt"}])], tmp_path))
             for folder in (first, second)]
    assert keyed[0] == keyed[1]
    moved = keys(run_plan([lib(files=[{"src": str(first / "req.txt"), "dest": "/tmp/other.txt"}])], tmp_path))
    assert moved != keyed[0]   # where it goes in the container is


def store(tmp_path, record, seconds=10.0, created="2026-12-01T00:00:00Z"):
    directory = record["artifact"]
    os.makedirs(directory)
    (tmp_path / "image.tar").write_bytes(b"x" * 10)
    shutil.copy(tmp_path / "image.tar", os.path.join(directory, "image.tar"))
    with open(os.path.join(directory, "artifact.json"), "w") as handle:
        json.dump({"name": record["name"], "key": record["key"], "seconds": seconds, "created": created,
                   "files": {"image.tar": {"file": "image.tar", "size": 10, "sha256": "0" * 64}}}, handle)


def test_a_complete_artifact_is_cached_and_a_broken_one_is_not(tmp_path):
    first = by_name(run_plan([lib(), app()], tmp_path))
    assert not first["lib"]["cached"]
    store(tmp_path, first["lib"])
    again = run_plan([lib(), app()], tmp_path)
    assert again["cached"] == ["lib"] and again["to_build"] == ["app"]
    assert run_plan([lib(), app()], tmp_path, use_cache=False)["cached"] == []
    # a truncated tar file: not cached
    with open(os.path.join(first["lib"]["artifact"], "image.tar"), "wb") as handle:
        handle.write(b"x")
    assert run_plan([lib(), app()], tmp_path)["cached"] == []


def test_longest_chain_first_with_measured_seconds(tmp_path):
    quick = {"name": "quick", "version": "1", "prefixes": ["/opt/q"], "weight": 50}
    result = run_plan([quick, lib(weight=10), app(weight=100)], tmp_path)
    # lib (10) + app (100) is the longer chain: lib starts first
    assert result["to_build"] == ["lib", "app", "quick"]
    assert by_name(result)["lib"]["priority"] == 110
    # a measured time of an earlier artifact of quick (another key) replaces its weight
    old = dict(by_name(result)["quick"], key="f" * 64)
    old["artifact"] = plan.artifact_dir(str(tmp_path / "cache"), "quick", old["key"])
    store(tmp_path, old, seconds=500)
    assert run_plan([quick, lib(weight=10), app(weight=100)], tmp_path)["to_build"][0] == "quick"


def test_layers_chain_their_keys(tmp_path):
    first = run_plan([lib(), app()], tmp_path)["layers"]
    assert [layer["name"] for layer in first] == ["lib", "app"]
    changed = run_plan([lib(), app(options=["--x"])], tmp_path)["layers"]
    assert changed[0]["layer_key"] == first[0]["layer_key"] and changed[1]["layer_key"] != first[1]["layer_key"]
    assert run_plan([lib(), app()], tmp_path, layer_base="sha256:other")["layers"][0]["layer_key"] != first[0]["layer_key"]


@pytest.mark.parametrize("requested, cores, memory, count, expected", [
    (0, 2, 24, 10, 2), (0, 16, 8, 10, 4), (0, 8, 64, 3, 3), (1, 2, 24, 10, 1), (0, 2, 24, 0, 1), (0, 1, 24, 10, 1)])
def test_parallel(requested, cores, memory, count, expected):
    assert plan.choose_parallel(requested, cores, memory, count) == expected


@pytest.mark.parametrize("requested, cores, parallel, expected", [
    (0, 2, 3, 2), (0, 2, 1, 2), (0, 16, 17, 2), (0, 16, 4, 8), (0, 1, 1, 1), (5, 2, 2, 5)])
def test_jobs(requested, cores, parallel, expected):
    assert plan.choose_jobs(requested, cores, parallel) == expected


# --- schedule ---------------------------------------------------------------------

def schedule(tmp_path, parallel=1):
    components = [{"name": "lib", "needs": [], "priority": 10}, {"name": "app", "needs": ["lib"], "priority": 5},
                  {"name": "other", "needs": [], "priority": 1}, {"name": "old", "needs": [], "cached": True}]
    slot.planned(str(tmp_path), components, parallel)
    return str(tmp_path)


def test_the_highest_priority_that_can_start_starts(tmp_path):
    state = schedule(tmp_path)
    with slot.Schedule(state) as sched:
        assert not slot.try_acquire(sched.data, "other", 0)   # lib comes first
        assert not slot.try_acquire(sched.data, "app", 0)     # lib is not built
        assert slot.try_acquire(sched.data, "lib", 0)
        assert not slot.try_acquire(sched.data, "other", 0)   # one place only
        sched.save()
    slot.released(state, "lib", True, clock=lambda: 3.0)
    with slot.Schedule(state) as sched:
        assert slot.try_acquire(sched.data, "app", 0)          # priority 5 before 1
        assert sched.data["components"]["lib"]["seconds"] == 3.0


def test_a_failed_need_fails_what_needs_it_at_once(tmp_path):
    state = schedule(tmp_path, parallel=2)
    slot.acquired(state, "lib", poll=0)
    slot.released(state, "lib", False, "lib make failed")
    with pytest.raises(slot.ScheduleError, match="needs lib, which failed"):
        slot.acquired(state, "app", poll=0)
    report = slot.reported(state)
    assert report["failures"] == {"lib": "lib make failed", "app": "needs lib, which failed",
                                  "other": "not built (its host stopped before it ended)"}


def test_light_components_build_beside_the_others_in_places_of_their_own(tmp_path):
    heavy = [{"name": n, "needs": [], "priority": 300, "expected_seconds": 300} for n in ("a", "b", "c")]
    light = [{"name": n, "needs": [], "priority": 10, "expected_seconds": 10} for n in ("p", "q", "r")]
    slot.planned(str(tmp_path), heavy + light, 2)
    with slot.Schedule(str(tmp_path)) as sched:
        assert slot.try_acquire(sched.data, "a", 0) and slot.try_acquire(sched.data, "b", 0)
        assert not slot.try_acquire(sched.data, "c", 0)        # the two places are taken
        assert slot.try_acquire(sched.data, "p", 0)            # beside them, not after them
        assert slot.try_acquire(sched.data, "q", 0)
        assert not slot.try_acquire(sched.data, "r", 0)        # two light places too


def test_with_one_place_nothing_is_light(tmp_path):
    slot.planned(str(tmp_path), [{"name": "a", "needs": [], "priority": 300, "expected_seconds": 300},
                                 {"name": "p", "needs": [], "priority": 10, "expected_seconds": 10}], 1)
    with slot.Schedule(str(tmp_path)) as sched:
        assert slot.try_acquire(sched.data, "a", 0)
        assert not slot.try_acquire(sched.data, "p", 0)        # one after another


def test_the_report_gives_the_critical_path_and_the_idle_core_seconds(tmp_path, monkeypatch):
    idle = iter([1000, 1150, 1400, 1500])   # clock ticks: at the plan, then at each release
    monkeypatch.setattr(slot, "idle_jiffies", lambda: next(idle))
    components = [{"name": "lib", "needs": [], "priority": 10}, {"name": "app", "needs": ["lib", "other"], "priority": 5},
                  {"name": "other", "needs": [], "priority": 1}, {"name": "old", "needs": [], "cached": True}]
    state = str(tmp_path)
    slot.planned(state, components, 2, clock=lambda: 100.0)
    with slot.Schedule(state) as sched:
        assert slot.try_acquire(sched.data, "lib", 100.0) and slot.try_acquire(sched.data, "other", 100.0)
        sched.save()
    slot.released(state, "other", True, clock=lambda: 110.0)
    slot.released(state, "lib", True, clock=lambda: 130.0)   # app waited for lib, not for other
    with slot.Schedule(state) as sched:
        assert slot.try_acquire(sched.data, "app", 130.0)
        sched.save()
    slot.released(state, "app", True, clock=lambda: 150.0)
    with slot.Schedule(state) as sched:
        report = slot.critical_path(sched.data, ticks=100)
    assert [c["name"] for c in report["critical_path"]] == ["lib", "app"]
    assert [c["seconds"] for c in report["critical_path"]] == [30.0, 20.0]
    assert report["span"] == 50.0
    assert report["idle_core_seconds"] == 5.0   # (1500 - 1000) ticks at 100 a second


def test_the_critical_path_follows_a_wait_for_a_place_too(tmp_path):
    state = str(tmp_path)
    slot.planned(state, [{"name": "a", "needs": [], "priority": 9}, {"name": "b", "needs": [], "priority": 1}], 1,
                 clock=lambda: 0.0)
    for name, start, end in (("a", 0.0, 10.0), ("b", 10.5, 30.0)):
        with slot.Schedule(state) as sched:
            assert slot.try_acquire(sched.data, name, start)
            sched.save()
        slot.released(state, name, True, clock=lambda end=end: end)
    with slot.Schedule(state) as sched:
        report = slot.critical_path(sched.data, ticks=100)
    assert [c["name"] for c in report["critical_path"]] == ["a", "b"]   # b waited for a's place


def test_waiters_in_threads_get_their_turn_in_order(tmp_path):
    state = schedule(tmp_path, parallel=1)
    started = []

    def build(name):
        slot.acquired(state, name, poll=0.01)
        started.append(name)
        time.sleep(0.05)
        slot.released(state, name, True)

    threads = [threading.Thread(target=build, args=(n,)) for n in ("other", "app", "lib")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert started == ["lib", "app", "other"]
    assert sorted(slot.reported(state)["finished"]) == ["app", "lib", "other"]


# --- pack -------------------------------------------------------------------------

def test_pack_takes_what_changed_after_the_marker(tmp_path):
    root = tmp_path / "root"
    old = root / "usr" / "local" / "bin" / "old-tool"
    old.parent.mkdir(parents=True)
    old.write_text("from a need")
    marker = tmp_path / "marker"
    time.sleep(0.01)
    marker.write_text("")
    time.sleep(0.01)
    new = root / "usr" / "local" / "bin" / "new-tool"
    new.write_text("#!/bin/sh\n")
    (root / "usr" / "local" / "lib").mkdir()
    (root / "usr" / "local" / "lib" / "libx.a").write_text("archive")
    (root / "usr" / "local" / "share" / "doc").mkdir(parents=True)
    (root / "usr" / "local" / "link").symlink_to("bin/new-tool")
    manifests = tmp_path / "manifests"
    result = pack.pack("tool", [str(root / "usr" / "local")], str(marker), str(tmp_path / "out"),
                       {"name": "tool", "version": "1"}, str(manifests),
                       remove=[str(root / "usr" / "local" / "share")], private=[str(root) + "/usr/local/lib/*.a"])
    with tarfile.open(result["paths"]["image.tar"]) as archive:
        names = archive.getnames()
    prefix = str(root).lstrip("/")
    assert prefix + "/usr/local/bin/new-tool" in names and prefix + "/usr/local/link" in names
    assert prefix + "/usr/local/bin/old-tool" not in names, "a need's file is not this artifact's"
    assert not any("share" in n for n in names) and not any(n.endswith(".a") for n in names)
    assert str(manifests / "tool.json").lstrip("/") in names
    with tarfile.open(result["paths"]["private.tar"]) as archive:
        assert prefix + "/usr/local/lib/libx.a" in archive.getnames()
    assert json.loads((manifests / "tool.json").read_text()) == {"name": "tool", "version": "1"}


def test_pack_refuses_an_empty_artifact_and_a_forbidden_file(tmp_path):
    marker = tmp_path / "marker"
    marker.write_text("")
    time.sleep(0.01)
    with pytest.raises(pack.PackError, match="installed nothing"):
        pack.pack("x", [str(tmp_path / "none")], str(marker), str(tmp_path / "out"), {}, str(tmp_path / "m"))
    prefix = tmp_path / "p"
    prefix.mkdir()
    (prefix / "ca.pem").write_text("secret")
    with pytest.raises(pack.PackError, match="must never be"):
        pack.pack("x", [str(prefix)], str(marker), str(tmp_path / "out"), {}, str(tmp_path / "m"),
                  forbidden=[str(prefix / "ca.pem")])


@pytest.mark.skipif(not shutil.which("strip") or not shutil.which("cc"), reason="needs a C compiler and strip")
def test_pack_strips_only_what_the_component_made(tmp_path):
    source = tmp_path / "x.c"
    source.write_text("int main(void) { return 0; }\n")
    marker = tmp_path / "marker"
    prefix = tmp_path / "p"
    prefix.mkdir()
    subprocess.run(["cc", "-g", "-o", str(prefix / "old"), str(source)], check=True)
    time.sleep(0.01)
    marker.write_text("")
    time.sleep(0.01)
    subprocess.run(["cc", "-g", "-o", str(prefix / "new"), str(source)], check=True)
    before = (prefix / "old").stat().st_size, (prefix / "new").stat().st_size
    result = pack.pack("x", [str(prefix)], str(marker), str(tmp_path / "out"), {}, str(tmp_path / "m"),
                       strip=[str(prefix)])
    assert result["stripped"] == 1
    assert (prefix / "old").stat().st_size == before[0] and (prefix / "new").stat().st_size < before[1]


def test_mark_makes_the_directories_and_a_marker_older_than_what_follows(tmp_path):
    marker = tmp_path / "work" / "started"
    pack.mark(str(marker), [str(tmp_path / "work" / "logs"), str(tmp_path / "src")])
    assert (tmp_path / "work" / "logs").is_dir() and (tmp_path / "src").is_dir()
    later = tmp_path / "later"
    later.write_text("x")
    assert later.stat().st_ctime_ns > marker.stat().st_mtime_ns


def test_what_nothing_needs_is_layered_last(tmp_path):
    leaf = {"name": "leaf", "version": "1", "prefixes": ["/opt/leaf"]}
    top = {"name": "top", "version": "1", "needs": ["app"], "prefixes": ["/opt/top"]}
    result = run_plan([leaf, lib(), app(), top], tmp_path)
    assert result["order"] == ["leaf", "lib", "app", "top"]
    assert [layer["name"] for layer in result["layers"]] == ["lib", "app", "leaf", "top"]
