#!/bin/sh
# Regenerate the pinned, hashed requirement files of python_tools (files/)
# from PyPI with uv (any uv >= 0.5: `pip install uv`, or the one in an image
# this factory built).
#
#   roles/python_tools/scripts/compile-requirements.sh [uv pip compile options]
#
# Every file gets the hashes of every file PyPI has for each pinned version
# (all architectures, sdist), so one set serves every arch; the platform only
# decides environment markers. Existing pins are kept: pass --upgrade (all) or
# --upgrade-package NAME to move them.
#
#   PYTHON_VERSION  minor version of python_tools_python (default 3.13); keep
#                   python_tools_requirements_python in step with it
#   PLATFORM        uv's --python-platform (default x86_64-manylinux_2_17)
#
# One file per tool: requirements-<tool>.txt. To add a tool, create an empty
# requirements-<tool>.txt, run this, and add the tool to python_tools_packages.
# Behind a TLS-intercepting proxy, set UV_NATIVE_TLS=1 or SSL_CERT_FILE.
set -eu

# options for uv pip compile (words without spaces)
uv_options="$*"
python_version=${PYTHON_VERSION:-3.13}
platform=${PLATFORM:-x86_64-manylinux_2_17}
cd "$(dirname "$0")/../files"

# compile OUTPUT PACKAGE...
compile() {
    out=$1
    shift
    # shellcheck disable=SC2086  # uv_options are separate words
    printf '%s\n' "$@" | uv pip compile --quiet --no-config \
        --python-version "$python_version" --python-platform "$platform" \
        --generate-hashes \
        --custom-compile-command "roles/python_tools/scripts/compile-requirements.sh" \
        --output-file "$out" $uv_options -
}

# The tools venv: pipx and certifi, and pip for the venv and pipx's shared
# libraries.
compile requirements-base.txt pipx certifi pip

for file in requirements-*.txt; do
    tool=${file#requirements-}
    tool=${tool%.txt}
    [ "$tool" = base ] && continue
    compile "$file" "$tool"
done
