"""Every task's seconds on every host, written as JSON for the benchmarks' phase breakdown."""

from __future__ import annotations

DOCUMENTATION = r"""
name: manylinux_timings
type: aggregate
short_description: Record how long each task took on each host
description:
  - Records, for every task result, the play, the task, the host, when it started (seconds since the
    playbook started) and how long it ran; at the end of the playbook writes them to O(path) as JSON
    (a list of records). C(benchmarks/components.py) sets O(path) and groups the records into the
    phases of a build (bases, container start, sources in, steps, packing, assembly, commit).
  - Without O(path) it records nothing, so a build that is not measured pays nothing.
requirements:
  - enabled in ansible.cfg (C(callbacks_enabled))
options:
  path:
    description: The JSON file to write; empty records nothing.
    type: str
    default: ""
    env:
      - name: MANYLINUX_TIMINGS_FILE
    ini:
      - section: manylinux_timings
        key: path
"""

import json
import os
import threading
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "manylinux_timings"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._origin = time.monotonic()
        self._play = ""
        self._started = {}   # (host, task uuid) -> [play, task name, role, started]
        self._records = []
        self._lock = threading.Lock()
        self._path = ""

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self._path = self.get_option("path") or ""

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()

    def v2_runner_on_start(self, host, task):
        if not self._path:
            return
        role = task._role.get_name() if getattr(task, "_role", None) else ""
        with self._lock:
            self._started[(host.get_name(), task._uuid)] = [self._play, task.get_name(), role,
                                                           time.monotonic() - self._origin]

    def _end(self, result, status):
        if not self._path:
            return
        key = (result._host.get_name(), result._task._uuid)
        with self._lock:
            entry = self._started.pop(key, None)
            if entry is None:
                return
            play, task, role, started = entry
            self._records.append({"play": play, "task": task, "role": role, "host": key[0], "status": status,
                                  "start": round(started, 3),
                                  "seconds": round(time.monotonic() - self._origin - started, 3)})

    def v2_runner_on_ok(self, result):
        self._end(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._end(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._end(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._end(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        if not self._path:
            return
        with self._lock:
            records = list(self._records)
        partial = self._path + ".partial"
        with open(partial, "w") as handle:
            json.dump(records, handle)
        os.replace(partial, self._path)
