# The two commands:  make demo  (the app on a local VPS)  and  make test.
SHELL := /bin/bash
VENV := .venv
UV_VERSION := 0.13.9
# The machine's own Python makes the virtualenv (the base interpreter, even
# when make runs inside an activated virtualenv).
HOST_PYTHON := $(shell python3 -c 'import sys; print(sys.base_prefix)')/bin/python3
UV := $(HOST_PYTHON) -m uv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Python keeps the bytecode of what it imports (in .venv, __pycache__), even
# where the environment says not to: otherwise every ansible-playbook run and
# every task's worker compiles ansible-core's sources again (about half a
# second of CPU per run before the first task).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo demo-down test bench vps-suites lint unit preflight restore-test demo-test molecule venv docker restic images demo-images

demo: venv demo-images  ## Run site.yml against a local Debian 13 VPS container; rerun to redeploy
	lab/scripts/demo.sh up

demo-down:  ## Remove the local VPS
	lab/scripts/demo.sh down

# Every Molecule scenario (molecule/<name>/molecule.yml).
SCENARIOS := $(patsubst molecule/%/molecule.yml,%,$(wildcard molecule/*/molecule.yml))
# Suites that run VPS containers at once (each has its own containers, names
# and ports): the three longest and the preflight suite, in vps-suites' order.
TEST_JOBS ?= 4

# The virtualenv, Docker and the images are made side by side, lint and unit
# tests run while the images build, then give their slots to the VPS suites.
test:  ## Everything CI runs
	$(MAKE) --no-print-directory --output-sync=target -j $(TEST_JOBS) lint unit vps-suites

# The longest first, so the others fill the gaps; the preflight suite beside
# them (about 100 short runs one after another, one core at most): started
# last, it ended the run alone.
LONGEST := production fleet default
# Each suite says how long it took (when it ends, pass or fail).
TIMED = @start=$$(date +%s); trap 'echo "$@: $$(( $$(date +%s) - start )) s"' EXIT;
vps-suites: $(addprefix molecule-,$(LONGEST)) preflight $(addprefix molecule-,$(filter-out $(LONGEST),$(SCENARIOS))) restore-test demo-test

.PHONY: $(addprefix molecule-,$(SCENARIOS))

lint: venv
	yamllint .
	ansible-lint
	ruff check .

# No bytecode left in the app's source: it is what gets pushed.
unit: venv restic
	cd files/app && PYTHONDONTWRITEBYTECODE=1 pytest -q -p no:cacheprovider tests
	pytest -q -p no:cacheprovider tests/test_role_docs.py tests/unit

# These run real VPS containers: they need the engine and the images.
# Bad inputs against Debian 12 and 13:
preflight: venv images
	$(TIMED) pytest -q -p no:cacheprovider tests/preflight

# The backup script's restores against a real PostgreSQL (the stack's image):
restore-test: venv images
	$(TIMED) pytest -q -p no:cacheprovider tests/restore

# `make demo` from nothing, on its own container and ports:
demo-test: venv images
	$(TIMED) pytest -q -p no:cacheprovider tests/demo

molecule: $(addprefix molecule-,$(SCENARIOS))

$(addprefix molecule-,$(SCENARIOS)): molecule-%: venv images
	$(TIMED) molecule test -s $*

# Performance figures into docs/performance.md and .png (not part of make
# test). BENCH_REPEAT (3), BENCH_ONLY (runs,serving,push,fleet,rolling),
# BENCH_FILES (2000), BENCH_NOTE.
bench: venv images
	$(UV) pip install --quiet -p $(VENV) -r lab/benchmarks/requirements.txt
	python lab/benchmarks/perf.py

venv: $(VENV)/.installed $(VENV)/collections/ansible_collections/flask_vps/stack

$(VENV)/.installed: requirements.txt requirements.yml
	$(UV) --version >/dev/null 2>&1 || $(HOST_PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) venv --quiet --allow-existing $(VENV)
	$(UV) pip install --quiet -p $(VENV) -r requirements.txt
	ansible-galaxy collection install -r requirements.yml
	touch $@

# This directory as the collection flask_vps.stack (ansible.cfg's
# collections_path; the unit tests import its plugins from there too).
$(VENV)/collections/ansible_collections/flask_vps/stack: | $(VENV)/.installed
	mkdir -p $(@D)
	ln -sfn $(CURDIR) $@

docker:
	lab/scripts/ensure-docker.sh

# The backup script's unit tests run the real restic. (One apt-get at a time:
# after Docker's, before the images'.)
restic: docker
	lab/scripts/ensure-restic.sh

images: docker restic
	lab/scripts/build-images.sh 13 12

# Only what the local VPS needs (a new user's first `make demo`).
demo-images: docker
	lab/scripts/build-images.sh demo
