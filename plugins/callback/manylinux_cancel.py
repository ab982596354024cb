"""A cancelled build cleans up after itself: SIGINT, SIGTERM and SIGHUP remove the run's containers."""

from __future__ import annotations

DOCUMENTATION = r"""
name: manylinux_cancel
type: aggregate
short_description: Remove a cancelled build's containers before ansible-playbook exits
description:
  - Ctrl-C in a terminal (SIGINT), a CI runner's cancel (SIGTERM) and a closed terminal (SIGHUP) end
    ansible-playbook, but not the containers it started (bases, components, the build container), whose
    steps run on in the engine, and only the next build would remove them. With this callback the three
    signals end the run as Ctrl-C does (the workers and their process groups are stopped, no later task
    runs, so nothing is tagged), and before the process exits every container labelled with this run's
    identity (C(<label_prefix>.controller), module C(manylinux_controller)) is removed, except those
    labelled C(<label_prefix>.keep=true) (C(build_keep_container)), then every untagged image the run's
    builds committed (a commit cut off before its tag), on the controller's engine and on every other
    build engine the start play recorded (fact C(build_engines)). It prints one line, the signal and
    what was removed or kept.
  - From the first signal on, the three signals are ignored, so a second Ctrl-C while it cleans up
    cannot leave the cleanup half done. An artifact being stored is never renamed into the artifact
    cache (module C(manylinux_artifact) writes a partial directory first), so a cancelled component
    leaves no artifact.
  - SIGKILL cannot be caught: the next build and C(playbooks/prune.yml) remove the containers of such a run.
requirements:
  - enabled in ansible.cfg (C(callbacks_enabled))
options:
  label_prefix:
    description: The label namespace of the build's containers (C(build_label_prefix)).
    type: str
    default: io.github.manylinux-shared
    env:
      - name: MANYLINUX_LABEL_PREFIX
    ini:
      - section: manylinux_cancel
        key: label_prefix
"""

import atexit
import os
import signal
import sys

from ansible.plugins.callback import CallbackBase
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_docker import DockerError
from ansible_collections.manylinux_shared.factory.plugins.module_utils.manylinux_owner import (
    children, identify, remove_owned)

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _ignore_signals():
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "manylinux_cancel"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._identity = None
        self._signal = None
        # the other build engines, once the start play has checked them: the run's containers are there too
        self._engines = []

    def v2_runner_on_ok(self, result):
        engines = (result._result.get("ansible_facts") or {}).get("build_engines")
        if engines:
            self._engines = [e for e in engines if e.get("environment")]

    def v2_playbook_on_start(self, playbook):
        # after the task queue manager set its own handlers (it forwards SIGINT and SIGTERM to the
        # workers, then dies of SIGTERM at once and ignores SIGHUP): these replace them
        if self._identity is not None:
            return
        self._identity = identify(os.getpid())
        for signum in SIGNALS:
            signal.signal(signum, self._cancel)
        atexit.register(self._clean_up)

    def _cancel(self, signum, frame):
        _ignore_signals()
        if self._signal is not None:
            return
        self._signal = signum
        # each worker runs its task in a session of its own and, on SIGTERM, ends that whole
        # process group (module, docker CLI) and itself
        for pid in children(os.getpid()):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        # the CLI's own way out of a run: no further task, exit code 99
        raise KeyboardInterrupt()

    def _clean_up(self):
        if self._signal is None:
            return
        _ignore_signals()
        name = signal.Signals(self._signal).name
        removed, kept, builds, images = [], [], set(), []
        # the docker CLI reaches each other engine through its environment (DOCKER_HOST, TLS)
        for environment in [{}] + [e["environment"] for e in self._engines]:
            saved = {variable: os.environ.get(variable) for variable in environment}
            os.environ.update(environment)
            try:
                found = remove_owned(self.get_option("label_prefix"), self._identity)
            except (DockerError, OSError) as exc:
                sys.stderr.write("Cancelled by %s; removing this run's containers%s failed (the next build removes "
                                 "them): %s\n" % (name, " on %s" % environment["DOCKER_HOST"] if environment else "", exc))
                continue
            finally:
                for variable, value in saved.items():
                    if value is None:
                        os.environ.pop(variable, None)
                    else:
                        os.environ[variable] = value
            removed += found[0]
            kept += found[1]
            builds.update(found[2])
            images += found[3]
        builds = sorted(builds)
        parts = ["removed " + (", ".join(removed) if removed else "no container")]
        if images:
            parts.append("the untagged image%s %s" % ("s" if len(images) > 1 else "", ", ".join(images)))
        if kept:
            parts.append("kept (build_keep_container) " + ", ".join(kept))
        sys.stderr.write("Cancelled by %s%s: %s.\n" % (
            name, (" (build %s)" % ", ".join(builds)) if builds else "", "; ".join(parts)))
        sys.stderr.flush()
