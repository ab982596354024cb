"""Image references (module_utils manylinux_image_ref) and the filters a build pulls and labels its base with
(manylinux_pull_reference, manylinux_base_digest)."""

import os

import pytest
import yaml
from manylinux_references import AnsibleFilterError, manylinux_base_digest, manylinux_pull_reference

import manylinux_image_ref as refs

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


# --- references --------------------------------------------------------------

@pytest.mark.parametrize("text,registry,repository,tag,digest", [
    ("quay.io/pypa/manylinux2014_base:2025.11.10-3", "quay.io", "pypa/manylinux2014_base", "2025.11.10-3", ""),
    ("almalinux:8", "docker.io", "library/almalinux", "8", ""),
    ("docker.io/library/almalinux:8", "docker.io", "library/almalinux", "8", ""),
    ("index.docker.io/library/alpine:3.22", "docker.io", "library/alpine", "3.22", ""),
    ("manylinux-shared/base:manylinux_2_31-amd64", "docker.io", "manylinux-shared/base", "manylinux_2_31-amd64", ""),
    ("127.0.0.1:5000/itest/base:1@" + D1, "127.0.0.1:5000", "itest/base", "1", D1),
    ("localhost/base", "localhost", "base", "", ""),
    ("ubuntu@" + D2, "docker.io", "library/ubuntu", "", D2),
])
def test_a_reference_is_read_as_docker_reads_it(text, registry, repository, tag, digest):
    ref = refs.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert ref.api_host == ("registry-1.docker.io" if registry == "docker.io" else registry)


@pytest.mark.parametrize("text,why", [
    ("", "it is empty"),
    ("Quay.io/pypa/Base:1", "the repository 'pypa/Base'"),
    ("almalinux:8@sha256:abc", "the digest 'sha256:abc'"),
    ("almalinux:8@md5:" + "1" * 32, "the digest"),
    ("almalinux:-8", "the tag '-8'"),
    ("a@%s@%s" % (D1, D2), "the digest"),
    ("bad_host.:1/x:1", "the registry 'bad_host.:1'"),
])
def test_a_bad_reference_names_the_grammar_and_what_breaks_it(text, why):
    with pytest.raises(refs.ReferenceError) as err:
        refs.parse(text)
    assert refs.GRAMMAR in str(err.value) and why in str(err.value)


def test_a_pin_keeps_the_name_as_written_and_is_pulled_by_its_digest():
    ref = refs.parse("almalinux:8@" + D1)
    assert ref.pinned(D2) == "almalinux:8@" + D2
    assert ref.pull == "almalinux@" + D1
    assert refs.parse("almalinux:8").pull == "almalinux:8"


# --- the filters of the build: what is pulled, the base.digest label ----------

def test_a_pinned_base_is_pulled_by_name_at_digest_and_an_offline_one_as_it_is():
    assert manylinux_pull_reference("quay.io/pypa/manylinux2014_base:2025.11.10-3@" + D1) \
        == "quay.io/pypa/manylinux2014_base@" + D1
    assert manylinux_pull_reference("manylinux-shared/base:manylinux_2_31-amd64") \
        == "manylinux-shared/base:manylinux_2_31-amd64"
    with pytest.raises(AnsibleFilterError, match="manylinux_pull_reference: 'Bad:1' is not an image reference"):
        manylinux_pull_reference("Bad:1")


def test_a_pulled_base_is_labelled_with_the_digest_it_was_pulled_by():
    image = {"Id": "sha256:" + "c" * 64,
             "RepoDigests": ["127.0.0.1:5000/other/base@" + D3, "almalinux@" + D2, "almalinux@" + D1]}
    # the pinned one, though it is not the first
    assert manylinux_base_digest(image, "almalinux:8@" + D1) == {"digest": D1, "source": "registry"}
    # unpinned: the RepoDigest of the base's own repository (docker.io/library/almalinux is almalinux)
    assert manylinux_base_digest(image, "docker.io/library/almalinux:8") == {"digest": D2, "source": "registry"}
    # a local name for a pulled image: the first RepoDigest
    assert manylinux_base_digest(image, "mybase:1") == {"digest": D3, "source": "registry"}


def test_a_base_made_here_is_labelled_with_its_own_content_digest():
    image_id = "sha256:" + "c" * 64
    for repo_digests in (None, []):
        image = {"Id": image_id, "RepoDigests": repo_digests}
        assert manylinux_base_digest(image, "manylinux-shared/base:manylinux_2_31-amd64") \
            == {"digest": image_id, "source": "local"}
    assert manylinux_base_digest({}, "almalinux:8") == {"digest": "", "source": ""}
    with pytest.raises(AnsibleFilterError, match="neither RepoDigests nor an Id"):
        manylinux_base_digest({"Id": ""}, "almalinux:8")


def test_the_labels_carry_the_digest_and_where_it_comes_from():
    """build.yml's build_image_labels: both labels from the filter's answer, none without a digest."""
    with open(os.path.join(ROOT, "inventories", "default", "group_vars", "all", "build.yml")) as handle:
        data = yaml.safe_load(handle)
    assert "manylinux_base_digest(build_base_image)" in data["build_base_origin"]
    assert data["build_base_digest"] == "{{ build_base_origin.digest }}"
    assert data["build_base_digest_source"] == "{{ build_base_origin.source }}"
    labels = data["build_image_labels"]
    assert "'org.opencontainers.image.base.digest': build_base_digest" in labels
    assert "build_label_prefix ~ '.base-digest-source': build_base_digest_source} if build_base_digest" in labels
    assert data["build_base_pull"] == "{{ build_base_image | manylinux_shared.factory.manylinux_pull_reference }}"
