"""The committed image: its config (ENV, entrypoint, labels, tag) and what the build left behind."""

import os
import re

from conftest import docker, image_manifests

LABEL = "io.github.manylinux-shared"


def test_tag_is_policy_arch_shared(image, policy, arch):
    repository = image.rsplit(":", 1)[0]
    assert repository.endswith("/%s_%s-shared" % (policy, arch))


def test_auditwheel_environment(image_env, policy, arch):
    assert image_env["AUDITWHEEL_POLICY"] == policy
    assert image_env["AUDITWHEEL_ARCH"] == arch
    assert image_env["AUDITWHEEL_PLAT"] == "%s_%s" % (policy, arch)


def test_locale_and_paths(image_env):
    for name in ("LC_ALL", "LANG", "LANGUAGE"):
        assert image_env[name] == "en_US.UTF-8"
    path = image_env["PATH"].split(":")
    assert "/usr/local/bin" in path and "/usr/bin" in path
    assert "/usr/local/lib/pkgconfig" in image_env["PKG_CONFIG_PATH"].split(":")
    assert "LD_LIBRARY_PATH" in image_env
    assert image_env["SSL_CERT_FILE"] == "/opt/_internal/certs.pem"


def test_no_build_time_settings_leak_into_env(image_env):
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        assert name not in image_env


def test_entrypoint_and_cmd(image_config):
    assert image_config["Config"]["Entrypoint"] == ["manylinux-entrypoint"]
    assert image_config["Config"]["Cmd"] == ["/bin/bash"]


def test_entrypoint_runs_the_command(run_in_image, arch):
    proc = run_in_image.run("echo $AUDITWHEEL_PLAT; uname -m")
    plat, machine = proc.stdout.split()
    assert plat.endswith("_" + arch)
    assert machine == arch


def test_default_command_is_bash(image):
    proc = docker("run", "--rm", "-i", image, input="echo $0 $BASH_VERSION\n")
    assert proc.stdout.startswith("/bin/bash ")


def test_labels(image_config, policy, arch):
    labels = image_config["Config"]["Labels"]
    assert labels[LABEL + ".policy"] == policy
    assert labels[LABEL + ".arch"] == arch
    assert labels[LABEL + ".platform-tag"] == "%s_%s" % (policy, arch)
    assert labels[LABEL + ".base-os"]
    assert labels[LABEL + ".build-id"] == os.environ.get("MANYLINUX_BUILD_ID", labels[LABEL + ".build-id"])
    revision = labels["org.opencontainers.image.revision"]
    assert revision and revision != "unknown"
    # OCI: what the image is, where it comes from, when it was made
    oci = "org.opencontainers.image."
    assert labels[oci + "source"].startswith("https://")
    assert labels[oci + "version"] and labels[oci + "vendor"] and labels[oci + "description"]
    # an SPDX expression of known licenses
    from license_expression import get_spdx_licensing
    assert get_spdx_licensing().validate(labels[oci + "licenses"]).errors == [], labels[oci + "licenses"]
    assert labels[oci + "base.name"] == labels[LABEL + ".base-image"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels[oci + "created"])
    # docker keeps the build container's labels: the run that made the image is reset, not published
    assert labels.get(LABEL + ".controller", "") == ""


def test_component_labels_match_manifests(image, image_config):
    labels = image_config["Config"]["Labels"]
    manifests = image_manifests()
    assert manifests, "the image has no component manifests"
    for manifest in manifests:
        # one label per component: every component's name is unique
        assert labels[LABEL + "." + manifest["name"]] == manifest["version"], manifest["name"]
        # and one per tool of a component that installs several (python-tools), so that none is hidden
        for tool, version in manifest.get("details", {}).get("tools", {}).items():
            assert labels[LABEL + "." + manifest["name"] + "." + tool] == version, tool


def test_no_build_container_left(image_config):
    build_id = os.environ.get("MANYLINUX_BUILD_ID") or image_config["Config"]["Labels"][LABEL + ".build-id"]
    proc = docker("ps", "-a", "--filter", "label=%s.build-id=%s" % (LABEL, build_id), "--format", "{{.Names}}")
    # containers of the image itself carry the label too; the build container is named for the build
    leftovers = [name for name in proc.stdout.split() if name.startswith("manylinux-build-")]
    assert leftovers == []


def test_no_bootstrap_python_left(container, image_config):
    # What the build installed to run Ansible's modules goes again when the base had no Python,
    # unless a package of the image needs it (Debian's libglib2.0-dev-bin needs python3).
    base = image_config["Config"]["Labels"][LABEL + ".base-image"]
    base_has_python = docker("run", "--rm", "--entrypoint", "/bin/sh", base, "-c",
                             "command -v python3", check=False).returncode == 0
    assert not container.file("/var/lib/manylinux-shared").exists
    if base_has_python:
        return
    if container.exists("apt-mark"):
        manual = container.check_output("apt-mark showmanual").split()
        assert not [p for p in manual if p.startswith("python3")], manual
        assert "python3-apt" not in container.check_output("dpkg-query -W -f '${Package}\\n'").split()
        # not manual, and apt would not remove it: what is left is a dependency of the image's packages
        removable = container.run("apt-get -s autoremove").stdout
        assert "Remv python3" not in removable, removable
    else:
        assert not container.exists("python3")


def test_no_build_leftovers(container):
    assert container.run("ls -A /tmp").stdout.strip() == ""
    assert not container.file("/root/.ansible").exists
    assert not container.file("/var/lib/apt/lists/partial").exists or \
        container.run("ls -A /var/lib/apt/lists | grep -v '^partial$' | grep -v '^lock$'").stdout.strip() == ""
