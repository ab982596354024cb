"""A heartbeat for long build steps: which step still runs, for how long, and the last line of its log."""

from __future__ import annotations

DOCUMENTATION = r"""
name: manylinux_heartbeat
type: aggregate
short_description: Show that a long build step is still running
description:
  - A task of module C(manylinux_build_step) shows nothing until it ends, and a PGO C(make) takes
    twenty minutes. While one runs longer than O(interval) seconds, this prints, at most once per
    O(interval), the host, the task, how long the step has run and the newest log in the host's
    O(log_dir) (the step's) with its last line (read with C(docker exec), as the hosts are the build's containers).
  - Short steps print nothing, so the output and the logs stay as they are.
requirements:
  - enabled in ansible.cfg (C(callbacks_enabled))
options:
  interval:
    description: Seconds between two heartbeats of a step, and before the first; 0 turns it off.
    type: int
    default: 60
    env:
      - name: MANYLINUX_HEARTBEAT_SECONDS
    ini:
      - section: manylinux_heartbeat
        key: interval
  log_dir:
    description: The directory of the step logs in the containers (C(build_log_remote_dir)).
    type: str
    default: /tmp/manylinux-build/logs
    env:
      - name: MANYLINUX_HEARTBEAT_LOG_DIR
    ini:
      - section: manylinux_heartbeat
        key: log_dir
"""

import shlex
import subprocess
import threading
import time

from ansible.plugins.callback import CallbackBase

# The module by any name a task gives it: short, legacy or the collection's FQCN.
STEP_ACTIONS = {"manylinux_build_step", "ansible.legacy.manylinux_build_step",
                "manylinux_shared.factory.manylinux_build_step"}


def elapsed(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    return "%dm%02ds" % (minutes, seconds)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "manylinux_heartbeat"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._running = {}   # (host, task uuid) -> [task name, started, last beat]
        self._lock = threading.Lock()
        self._thread = None

    def set_options(self, task_keys=None, var_options=None, direct=None):
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        self._interval = int(self.get_option("interval"))
        self._log_dir = self.get_option("log_dir")
        if self._interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()

    def _last_line(self, host):
        newest = "ls -t %s/*.log 2>/dev/null | head -n 1" % shlex.quote(self._log_dir)
        try:
            proc = subprocess.run(["docker", "exec", host, "sh", "-c",
                                   'f=$(%s); [ -n "$f" ] && basename "$f" .log && tail -n 1 "$f"' % newest],
                                  capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return "", ""
        lines = proc.stdout.splitlines()
        return (lines[0] if lines else ""), (lines[1].strip()[-200:] if len(lines) > 1 else "")

    def _beat(self):
        while True:
            time.sleep(min(5, self._interval))
            now = time.monotonic()
            with self._lock:
                due = [(key, entry) for key, entry in self._running.items() if now - entry[2] >= self._interval]
                for _, entry in due:
                    entry[2] = now
            for (host, _), (name, started, _) in due:
                step, line = self._last_line(host)
                self._display.display("[%s] %s%s: running for %s%s" % (
                    host, name, (" (%s)" % step) if step else "", elapsed(now - started),
                    (", last line: " + line) if line else ""))

    def _start(self, host, task):
        if task.action in STEP_ACTIONS:
            now = time.monotonic()
            with self._lock:
                self._running[(host.get_name(), task._uuid)] = [task.get_name(), now, now]

    def _restart(self, result):
        """An item of a loop ended: the next one starts now."""
        key = (result._host.get_name(), result._task._uuid)
        with self._lock:
            if key in self._running:
                now = time.monotonic()
                self._running[key][1:] = [now, now]

    def _end(self, result):
        with self._lock:
            self._running.pop((result._host.get_name(), result._task._uuid), None)

    def v2_runner_on_start(self, host, task):
        self._start(host, task)

    def v2_runner_item_on_ok(self, result):
        self._restart(result)

    def v2_runner_item_on_failed(self, result):
        self._restart(result)

    def v2_runner_item_on_skipped(self, result):
        self._restart(result)

    def v2_runner_on_ok(self, result):
        self._end(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._end(result)

    def v2_runner_on_skipped(self, result):
        self._end(result)

    def v2_runner_on_unreachable(self, result):
        self._end(result)
