# One command to set up and build, one to set up and test (README.md).
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# The default image: buildable with no container registry (manylinux_2_31 on
# the offline Debian 11 base that `make base` makes). Other policies pull the
# base image of the policy table unless BASE_IMAGE names one.
POLICY ?= manylinux_2_31
ARCH ?= x86_64
OFFLINE_BASE := manylinux-shared/base:manylinux_2_31-amd64
BASE_IMAGE ?= $(if $(filter manylinux_2_31-x86_64,$(POLICY)-$(ARCH)),$(OFFLINE_BASE))
# manylinux_2_31 armv7l on the offline Debian 11 armhf base: `make build-armv7l`
OFFLINE_BASE_ARMV7L := manylinux-shared/base:manylinux_2_31-armhf
# Extra CA bundle for the build container's own downloads (pip): by default the
# host's system bundle, so that a host behind a TLS-intercepting proxy builds
# as it browses. It is never part of the image. CA_BUNDLE= turns it off.
CA_BUNDLE ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
# More ansible-playbook arguments, e.g. EXTRA='-e build_image_tag=2026.11'
EXTRA ?=

# Foreign architectures (armv7l, aarch64, ... on an x86_64 host) run under qemu-user.
HOST_MACHINE := $(shell uname -m)
FOREIGN := $(if $(filter $(ARCH),$(HOST_MACHINE) $(if $(filter x86_64,$(HOST_MACHINE)),i686)),,--emulation)

.PHONY: setup emulation build build-offline build-armv7l base test lint unit integration molecule

setup:
	scripts/setup

emulation:
	scripts/setup --emulation

base:
	scripts/setup $(FOREIGN)
	ansible-playbook playbooks/base.yml -e "arch=$$ARCH"

# The recipes read the values from the environment, in double quotes: the
# shell substitutes them as they are and never runs what they hold.
export POLICY ARCH BASE_IMAGE CA_BUNDLE

build:
	scripts/setup $(FOREIGN)
	$(if $(filter $(OFFLINE_BASE),$(BASE_IMAGE)),ansible-playbook playbooks/base.yml -e "arch=$$ARCH")
	ansible-playbook playbooks/build.yml -e "policy=$$POLICY" -e "arch=$$ARCH" \
	  $(if $(BASE_IMAGE),-e "base_image=$$BASE_IMAGE") \
	  $(if $(CA_BUNDLE),-e "build_ca_bundle='$$CA_BUNDLE'") $(EXTRA)

# The default image from the offline source cache (no python.org): the
# interpreters the cache holds, the Debian tarballs of the toolchain's pieces.
# MANYLINUX_SOURCE_CACHE: default ../shared/sources.
build-offline:
	MANYLINUX_SOURCE_CACHE="$${MANYLINUX_SOURCE_CACHE:-$(abspath ../shared/sources)}" \
	  $(MAKE) build EXTRA="-e @tests/offline.yml $(EXTRA)" CA_BUNDLE="$(CA_BUNDLE)"

build-armv7l:
	$(MAKE) build POLICY=manylinux_2_31 ARCH=armv7l BASE_IMAGE=$(OFFLINE_BASE_ARMV7L) \
	  EXTRA="$(EXTRA)" CA_BUNDLE="$(CA_BUNDLE)" OFFLINE_BASE=$(OFFLINE_BASE_ARMV7L)

test:
	scripts/test

lint:
	scripts/test lint

unit:
	scripts/test unit

integration:
	scripts/test integration

molecule:
	scripts/test molecule
