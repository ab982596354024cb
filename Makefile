# One command to set up and build, one to set up and test (README.md).
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# The default image: buildable with no container registry (manylinux_2_31 on
# the offline Debian 11 base that `make base` makes). Other policies pull the
# base image of the policy table unless BASE_IMAGE names one.
POLICY ?= manylinux_2_31
ARCH ?= x86_64
OFFLINE_BASE := manylinux-shared/base:bullseye-amd64
BASE_IMAGE ?= $(if $(filter manylinux_2_31-x86_64,$(POLICY)-$(ARCH)),$(OFFLINE_BASE))
# Extra CA bundle for the build container (TLS-intercepting proxy); empty: off.
CA_BUNDLE ?=
# More ansible-playbook arguments, e.g. EXTRA='-e build_image_tag=2026.11'
EXTRA ?=

.PHONY: setup build base test lint unit integration molecule

setup:
	scripts/setup

base: setup
	ansible-playbook playbooks/base.yml

build: setup
	$(if $(filter $(OFFLINE_BASE),$(BASE_IMAGE)),ansible-playbook playbooks/base.yml)
	ansible-playbook playbooks/build.yml -e policy=$(POLICY) -e arch=$(ARCH) \
	  $(if $(BASE_IMAGE),-e base_image=$(BASE_IMAGE)) \
	  $(if $(CA_BUNDLE),-e build_ca_bundle=$(CA_BUNDLE)) $(EXTRA)

test: setup
	scripts/test

lint: setup
	scripts/test lint

unit: setup
	scripts/test unit

integration: setup
	scripts/test integration

molecule: setup
	scripts/test molecule
