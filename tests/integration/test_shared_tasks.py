"""Role factory_tasks' entry points as the content roles include them: the OS data of the
including role in linux-system-roles' chain, yum through rpm's answer (stand-ins for rpm and
yum that log their arguments: CentOS 7 is not built here), one wrapper template."""

import json
import os
import shutil

from conftest import ROOT, ansible_playbook

RPM = """#!/bin/sh
echo "rpm $*" >> "$PROBE_LOG"
for name in "$@"; do
  case $name in absent-*|repo-*) echo "no package provides $name";; esac
done
exit 1
"""
YUM = """#!/bin/sh
echo "yum $*" >> "$PROBE_LOG"
[ "$1" = check-update ] && exit 100
exit 0
"""


def test_shared_tasks(tmp_path):
    # a copy of the probe role: it makes its OS data for this host's chain
    roles = tmp_path / "roles"
    shutil.copytree(os.path.join(ROOT, "tests", "integration", "roles", "shared_tasks_probe"), roles / "shared_tasks_probe")
    (roles / "shared_tasks_probe" / "vars").mkdir()
    # stand-ins for rpm and yum
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("rpm", RPM), ("yum", YUM)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "log"
    output = tmp_path / "probe.json"
    run = ansible_playbook("tests/integration/playbooks/shared_tasks.yml",
                           "-e", json.dumps({"probe_bin": str(bin_dir), "probe_output": str(output)}),
                           env={"ANSIBLE_ROLES_PATH": "%s:%s" % (os.path.join(ROOT, "roles"), roles),
                                "PROBE_LOG": str(log)})
    assert run.rc == 0, run.output[-3000:]
    seen = json.loads(output.read_text())
    # the most specific file of the chain wins; another distribution's is not read
    assert seen["data"] == {"release": True, "level": "release"}
    # one rpm query; only what is provided is removed, only what is not is installed (from its URL)
    assert log.read_text().splitlines() == [
        "rpm -q --whatprovides --qf  installed-devel absent-devel installed-tool absent-tool repo-release",
        "yum remove -y -q installed-devel",
        "yum install -y -q absent-tool https://example.invalid/repo-release.rpm",
        "yum check-update -q",
        "yum update -y -q",
    ]
    assert seen["wrappers"] == [{
        "content": "#!/bin/sh\n# Ansible managed (role shared_tasks_probe)\n# the tool\nset -eu\n"
                   "if [ \"$(id -u)\" -eq 0 ]; then\n    export TOOL_HOME='/opt/tool home'\nfi\n"
                   "exec '/opt/tool dir/bin/tool' \"$@\"\n",
        "dest": "/usr/local/bin/tool", "mode": "0755"}]

