# Acc-Py base builder. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# mypy 1.8 is the last mypy that checks code for Python 3.7, the oldest Python a base ships:
# it type-checks what ships inside bases, in a venv of its own
MYPY37 := $(VENV)/mypy37/bin/mypy
SHIPPED := -p accpy_core -p acc_py_install -p acc_py
ENTRYPOINT := src/accpy_images/files/entrypoint.py
# the CI templates' jobs helper: runs on the Python of the jobs' base
CI_HELPER := ci-templates/src/acc_py_ci.py
RENDERED := build/lint/sitecustomize.py build/lint/acc-py.py build/lint/_acc_py_interactive.py

VERSION ?= 2023.06
MANIFEST ?= versions.yaml
INTERPRETER ?=
PBS_MIRROR ?=
PLATFORM ?=
INDEX_URL ?=
USAGE_COLLECTOR ?=
# the site's CA certificates (PEM files, space-separated), instead of versions.yaml's
SITE_CA ?=
CACHE_DIR ?=
WORK_DIR ?= build
DIST_DIR ?= dist
PYTEST_ARGS ?=
TARBALL ?=
ROOT ?=
INSTALL_ARGS ?=
OS ?=
JAVA ?=
FROM ?=
VARIANTS ?=
REGISTRY ?=
RELEASE ?=
# gitlab-ci-local, which runs the CI templates' pipelines in the tests: 4.56.2 is the newest that
# starts on Node 20 (newer ones need a newer Node)
GITLAB_CI_LOCAL_VERSION := 4.56.2
GITLAB_CI_LOCAL := $(VENV)/node/node_modules/.bin/gitlab-ci-local

BUILD_ARGS = $(VERSION) $(BUILD_OPTIONS)
BUILD_OPTIONS = --manifest $(MANIFEST) \
	$(if $(INTERPRETER),--interpreter $(INTERPRETER)) \
	$(if $(PBS_MIRROR),--pbs-mirror '$(PBS_MIRROR)') \
	$(if $(PLATFORM),--platform $(PLATFORM)) \
	$(if $(INDEX_URL),--index-url '$(INDEX_URL)') \
	$(if $(USAGE_COLLECTOR),--usage-collector $(USAGE_COLLECTOR)) \
	$(foreach ca,$(SITE_CA),--site-ca $(ca)) \
	$(if $(CACHE_DIR),--cache-dir $(CACHE_DIR)) \
	--work-dir $(WORK_DIR) --dist-dir $(DIST_DIR)

IMAGE_ARGS = $(VERSION) --manifest $(MANIFEST) \
	$(if $(OS),--os $(OS)) $(if $(JAVA),--java $(JAVA)) $(if $(FROM),--from '$(FROM)') \
	$(if $(VARIANTS),--variants $(VARIANTS)) --dist-dir $(DIST_DIR) --work-dir $(WORK_DIR)

.PHONY: help venv base install manifest images push interactive-lock interactive ci-templates \
	ci-templates-lock check test test-deps lint bench docs clean

help:
	@echo "make base VERSION=2023.06 [INTERPRETER=auto|PREFIX] [PBS_MIRROR=URL] [PLATFORM=TAG|auto]"
	@echo "          [INDEX_URL=URL] [SITE_CA=PEM] [USAGE_COLLECTOR=HOST:PORT] [CACHE_DIR=DIR]"
	@echo "make install TARBALL=dist/acc-py-base-….tar.gz [ROOT=/acc/local/share/python/acc-py] [INSTALL_ARGS=--pro]"
	@echo "make images VERSION=2023.06 [VARIANTS=base,ci,...] [JAVA=openjdk17] [OS=el9] [FROM=REF]"
	@echo "          (builds the base first when dist/ lacks it, with make base's options)"
	@echo "make push VERSION=2023.06 [REGISTRY=host:port/path] [VARIANTS=...] [JAVA=...] [OS=...]"
	@echo "make interactive-lock RELEASE=2025.03 [INDEX_URL=URL]   lock an interactive release"
	@echo "make interactive RELEASE=2025.03 [INTERPRETER=...] [PLATFORM=...] [INDEX_URL=...]"
	@echo "          build it from its lock on its base (the base first when dist/ lacks it);"
	@echo "          install with make install TARBALL=dist/acc-py-interactive-….tar.gz"
	@echo "make ci-templates   regenerate ci-templates/ from versions.yaml (commit the result)"
	@echo "make ci-templates-lock   re-lock the CI jobs' tools (ci-templates/src/tools.lock), then regenerate"
	@echo "make manifest   validate versions.yaml and list its bases"
	@echo "make check      lint, type-check and the unit tier: after every edit (no network)"
	@echo "make test       install what the tests need, lint, type-check and run the whole suite"
	@echo "make bench      every benchmark against its anchor: benchmarks/results/*.json, its docs page"
	@echo "make docs       the documentation (docs/): generated pages, then the site in build/site"
	@echo "make clean      remove build/ and dist/ (the download cache stays)"

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "the builder needs Python >= 3.11: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(PYTHON) -m venv $(VENV)/mypy37
	$(VENV)/mypy37/bin/python -m pip install --quiet mypy==1.8.0
	@touch $@

base: venv
	$(BIN)/acc-py-build base $(BUILD_ARGS)

install: venv
	@test -n "$(TARBALL)" || { echo "make install needs TARBALL=path/to/acc-py-base-<version>-<platform>.tar.gz"; exit 2; }
	$(BIN)/acc-py-install install $(TARBALL) $(if $(ROOT),--root $(ROOT)) $(INSTALL_ARGS)

# the images of one base: dist/images/*.oci.tar and local containers-storage
images: venv
	@ls $(DIST_DIR)/acc-py-base-$(VERSION)-*.tar.gz >/dev/null 2>&1 \
		|| $(MAKE) --no-print-directory base
	$(BIN)/acc-py-images build $(IMAGE_ARGS)

push: venv
	$(BIN)/acc-py-images push $(IMAGE_ARGS) $(if $(REGISTRY),--to $(REGISTRY))

# an interactive release from its committed lock, on its base: dist/acc-py-interactive-*.tar.gz
interactive: venv
	@test -n "$(RELEASE)" || { echo "make interactive needs RELEASE=YYYY.MM (versions.yaml, interactive:)"; exit 2; }
	$(BIN)/acc-py-build interactive $(RELEASE) $(BUILD_OPTIONS)

# an interactive release's lock, interactive/$(RELEASE).lock: commit it to make the release
interactive-lock: venv
	@test -n "$(RELEASE)" || { echo "make interactive-lock needs RELEASE=YYYY.MM (versions.yaml, interactive:)"; exit 2; }
	$(BIN)/acc-py-build interactive-lock $(RELEASE) --manifest $(MANIFEST) \
		$(if $(INDEX_URL),--index-url '$(INDEX_URL)') $(if $(CACHE_DIR),--cache-dir $(CACHE_DIR))

manifest: venv
	$(BIN)/acc-py-build manifest --manifest $(MANIFEST)

# the GitLab CI templates that projects include: generated from versions.yaml, committed
ci-templates: venv
	$(BIN)/acc-py-build ci-templates --manifest $(MANIFEST)

# the CI jobs' tools, resolved for every base's Python with the hashes of their wheels
ci-templates-lock: venv
	$(BIN)/acc-py-build ci-templates --manifest $(MANIFEST) --lock-tools \
		$(if $(INDEX_URL),--index-url '$(INDEX_URL)') $(foreach ca,$(SITE_CA),--site-ca $(ca))

# What the tests use from Debian: the shells setup.sh is sourced from (a fresh machine lacks zsh
# and tcsh), strace (file-system call counts), shellcheck (the self-extracting installer's sh),
# PostgreSQL (the usage collector's backend), a C compiler with the static C library (every
# build compiles bin/acc-py), for the foreign-host tests openssl (a test CA), Xvfb and
# xdpyinfo (tkinter on a virtual display) and the DejaVu fonts, for the images buildah,
# podman, skopeo, mmdebstrap (the test OS image) and docker-registry (a loopback registry), and
# for the CI templates' pipelines rsync and git (gitlab-ci-local's shell executor) and, from
# npm, gitlab-ci-local itself (under $(VENV)/node).
test-deps: $(GITLAB_CI_LOCAL)
	@missing=""; for s in bash zsh dash tcsh strace shellcheck openssl buildah podman skopeo mmdebstrap rsync git; do command -v $$s >/dev/null || missing="$$missing $$s"; done; \
	command -v docker-registry >/dev/null || missing="$$missing docker-registry"; \
	command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	command -v fuse-overlayfs >/dev/null || missing="$$missing fuse-overlayfs uidmap"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v Xvfb >/dev/null || missing="$$missing xvfb"; \
	command -v xdpyinfo >/dev/null || missing="$$missing x11-utils"; \
	[ -d /usr/share/fonts/truetype/dejavu ] || missing="$$missing fonts-dejavu-core"; \
	echo 'int main(void) { return 0; }' | cc -static -x c -o /dev/null - 2>/dev/null || missing="$$missing gcc libc6-dev"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing (Debian packages)"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(GITLAB_CI_LOCAL):
	@command -v npm >/dev/null || { echo "the CI templates' tests need Node.js and npm (Debian: nodejs npm)"; exit 2; }
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node gitlab-ci-local@$(GITLAB_CI_LOCAL_VERSION)
	@$(GITLAB_CI_LOCAL) --version >/dev/null

lint: venv
	$(BIN)/acc-py-build ci-templates --manifest $(MANIFEST) --check
	$(BIN)/python docs/generate.py --check
	$(BIN)/mkdocs build --quiet --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src installer recipes tests benchmarks build_base.py ci-templates docs
	$(BIN)/mypy
	MYPYPATH=src:installer $(MYPY37) --config-file "" --python-version 3.7 --strict \
		--ignore-missing-imports $(SHIPPED)
	@# the usage hook and acc-py's entry point, as every base runs them (rendered for the pro base)
	$(BIN)/acc-py-build render sitecustomize.py.in --version $(VERSION) -o build/lint/sitecustomize.py
	$(BIN)/acc-py-build render acc-py.py.in --version $(VERSION) -o build/lint/acc-py.py
	$(BIN)/acc-py-build render interactive-site.py.in --version $(VERSION) -o build/lint/_acc_py_interactive.py
	@# and the app_exec images' entrypoint, which runs on the image's base Python
	$(BIN)/ruff check --target-version py37 $(RENDERED) $(ENTRYPOINT)
	$(BIN)/ruff format --check --target-version py37 $(RENDERED) $(ENTRYPOINT)
	MYPYPATH=src:installer $(MYPY37) --config-file "" --python-version 3.7 --strict \
		$(RENDERED) $(ENTRYPOINT)
	$(MYPY37) --config-file "" --python-version 3.7 --strict --ignore-missing-imports $(CI_HELPER)

# pytest's workers (pytest-xdist): one per core, each test module on one worker; a test that
# runs longer than PYTEST_TIMEOUT seconds fails, naming itself
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
PYTEST_TIMEOUT ?= 1800
PYTEST_RUN = $(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --timeout $(PYTEST_TIMEOUT)

# the developer's loop: what runs after every edit (lint, types, the unit tier; no network). A
# unit test that runs on every local Python runs here on the oldest and the newest; make test
# runs it on the ones between (tests/conftest.py: every_python)
check: venv lint
	$(PYTEST_RUN) tests/unit -q -m "not between_pythons and not test_deps" $(PYTEST_ARGS)

# the whole suite: check first (it fails fast), then the integration tier and the unit tests on
# the Pythons between, with the 25 slowest tests at the end
test: check test-deps
	$(PYTEST_RUN) tests/integration tests/unit -m "not unit or between_pythons or test_deps" \
		--durations 25 $(PYTEST_ARGS)

bench: venv
	$(BIN)/python benchmarks/bench_build.py --version $(VERSION)
	$(BIN)/python benchmarks/bench_install.py
	$(BIN)/python benchmarks/bench_venv.py
	$(BIN)/python benchmarks/bench_usage.py
	$(BIN)/python benchmarks/bench_failures.py
	$(BIN)/python benchmarks/bench_images.py
	$(BIN)/python benchmarks/bench_interactive.py
	@# the page of figures, from the results files just written (benchmarks/results/*.json)
	$(BIN)/python docs/generate.py

# the documentation: its generated pages (docs/generate.py), then the site, build/site
docs: venv
	$(BIN)/python docs/generate.py
	$(BIN)/mkdocs build --strict

clean:
	rm -rf build dist
