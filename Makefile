# nhi.lifecycle: the two commands are `make demo` and `make test`.
# `make help` lists the rest. Every target that needs Python depends on
# `venv`, which builds .venv once and again only when requirements/ change.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
RUN := $(ROOT)/.run

# Main line: Python 3.13 + ansible-core 2.21 (requirements/*.txt).
PY313_PYENV := /root/.pyenv/versions/3.13.0/bin/python3
PYTHON313 ?= $(or $(wildcard $(PY313_PYENV)),$(shell command -v python3.13 2>/dev/null))
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nhi-requirements.stamp
REQS := requirements/runtime.txt requirements/test.txt

# Compat line: Python 3.11 + ansible-core 2.19 (requirements/compat-2.19.txt).
PY311_PYENV := /root/.pyenv/versions/3.11.7/bin/python3
PYTHON311 ?= $(or $(wildcard $(PY311_PYENV)),$(shell command -v python3.11 2>/dev/null))
VENV219 := $(ROOT)/.venv-219
STAMP219 := $(VENV219)/.nhi-requirements.stamp
REQS219 := requirements/runtime.txt requirements/compat-2.19.txt

# `import ansible_collections.nhi.lifecycle...` resolves through this link to
# the working tree (for pytest, ansible-playbook and ansible-doc alike).
COLLECTIONS := $(RUN)/collections
COLL_LINK := $(COLLECTIONS)/ansible_collections/nhi/lifecycle

EVIDENCE_ROOT ?= $(or $(NHI_EVIDENCE_ROOT),$(ROOT)/evidence)
PYTEST_ARGS ?=
UNIT_ARGS ?=
INTEGRATION_ARGS ?=
# pytest-xdist workers for tests/integration (0: one process). Two halve the
# wall time on a 2-core machine: a playbook run waits on the backends much of
# the time. Every test uses names of its own, so the tests never meet.
INTEGRATION_WORKERS ?= 2
# pytest-xdist workers for tests/unit (make unit and make compat; 0: one
# process). The unit tests share no state, and two workers take the two
# steps from about 170 s to about 110 s on a 2-core machine.
UNIT_WORKERS ?= 2
# Molecule scenarios to run (names under extensions/molecule/); empty: all.
MOLECULE_SCENARIOS ?=
# pytest's own options for every run: no cache dir in the tree, short tracebacks.
PYTEST_OPTS := -p no:cacheprovider -ra --tb=short

.PHONY: help venv backends-start backends-stop backends-status demo test sanity lint \
        docs-lint unit integration compat molecule bench clean action-group

help:
	@echo "make demo            venv + local backends + playbooks/demo.yml, then where the evidence report is"
	@echo "make test            sanity, lint, docs-lint, unit, compat, molecule, integration (what CI runs: .ci/run)"
	@echo "make venv            .venv with requirements/test.txt (Python 3.13, ansible-core 2.21)"
	@echo "make backends-start  OpenBao, moto, scim2-server (+ GCP stand-in) on free loopback ports; env in .run/backends.env"
	@echo "make backends-stop   stop the backends this checkout started"
	@echo "make molecule        the roles' Molecule scenarios (extensions/molecule/) against the local backends"
	@echo "make sanity | lint | docs-lint | unit | integration | compat | bench | clean"

# ---------------------------------------------------------------- venvs

venv: $(STAMP) $(COLL_LINK)
	@:

$(STAMP): $(REQS)
	@if [[ -z "$(PYTHON313)" ]]; then \
	  echo "make venv: no Python 3.13 found: looked for $(PY313_PYENV) and python3.13 on PATH." >&2; \
	  echo "Install Python 3.13 (e.g. 'pyenv install 3.13.0') or run 'make venv PYTHON313=/path/to/python3.13'." >&2; \
	  exit 1; \
	fi
	@mkdir -p $(RUN)
	@if [[ ! -x $(PY) ]]; then \
	  echo "make venv: creating $(VENV) with $(PYTHON313)"; \
	  $(PYTHON313) -m venv $(VENV); \
	fi
	@echo "make venv: installing requirements/test.txt (log: $(RUN)/pip-venv.log)"
	@start=$$SECONDS; \
	if ! $(PY) -m pip install --disable-pip-version-check -r requirements/test.txt >$(RUN)/pip-venv.log 2>&1; then \
	  grep -v "^WARNING: Location '" $(RUN)/pip-venv.log | tail -n 30 >&2; \
	  echo "make venv: pip install failed; full log: $(RUN)/pip-venv.log" >&2; \
	  exit 1; \
	fi; \
	echo "make venv: done in $$((SECONDS - start)) s"
	@touch $@

$(COLL_LINK):
	@mkdir -p $(dir $@)
	@ln -sfn ../../../.. $@

$(STAMP219): $(REQS219) $(COLL_LINK)
	@if [[ -z "$(PYTHON311)" ]]; then \
	  echo "make compat: no Python 3.11 found: looked for $(PY311_PYENV) and python3.11 on PATH." >&2; \
	  echo "Install it or run 'make compat PYTHON311=/path/to/python3.11'." >&2; \
	  exit 1; \
	fi
	@mkdir -p $(RUN)
	@if [[ ! -x $(VENV219)/bin/python ]]; then \
	  echo "make compat: creating $(VENV219) with $(PYTHON311)"; \
	  $(PYTHON311) -m venv $(VENV219); \
	fi
	@sed '/^ansible-core==/d' requirements/runtime.txt >$(RUN)/runtime-without-core.txt
	@echo "make compat: installing ansible-core 2.19 + runtime deps (log: $(RUN)/pip-venv-219.log)"
	@if ! $(VENV219)/bin/python -m pip install --disable-pip-version-check \
	    -r $(RUN)/runtime-without-core.txt -r requirements/compat-2.19.txt >$(RUN)/pip-venv-219.log 2>&1; then \
	  grep -v "^WARNING: Location '" $(RUN)/pip-venv-219.log | tail -n 30 >&2; \
	  echo "make compat: pip install failed; full log: $(RUN)/pip-venv-219.log" >&2; \
	  exit 1; \
	fi
	@touch $@

action-group: venv
	@$(PY) scripts/update_action_group.py

# ---------------------------------------------------------------- backends

backends-start: venv
	@scripts/backends.sh start

backends-stop:
	@scripts/backends.sh stop

backends-status:
	@scripts/backends.sh status

# ---------------------------------------------------------------- demo

demo:
	@if [[ ! -f playbooks/demo.yml ]]; then \
	  echo "make demo: playbooks/demo.yml does not exist yet, so there is nothing to run." >&2; \
	  echo "It is the lead's demo playbook; once it lands, run 'make demo' again." >&2; \
	  exit 1; \
	fi
	@$(MAKE) venv backends-start
	@set -a; source $(RUN)/backends.env; set +a; \
	export ANSIBLE_CONFIG=$(ROOT)/ansible.cfg; \
	cd $(ROOT) && $(VENV)/bin/ansible-playbook playbooks/demo.yml -i inventories/example
	@latest=$$(ls -1td $(EVIDENCE_ROOT)/*/ 2>/dev/null | head -n 1); \
	if [[ -n "$$latest" && -f "$${latest}report.html" ]]; then \
	  echo "Evidence report: $${latest}report.html"; \
	  if command -v chromium >/dev/null 2>&1; then \
	    shot=$$(mktemp -d); \
	    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
	      --disable-component-update --disable-sync --no-first-run --user-data-dir="$$shot" \
	      --window-size=1280,2400 --screenshot="$${latest}report.png" "file://$${latest}report.html" >/dev/null 2>&1 \
	      && echo "A screenshot of it:  $${latest}report.png"; \
	    rm -rf "$$shot"; \
	  fi; \
	  if [[ -f tools/nhi-evidence ]]; then \
	    echo "Verify its chain: .venv/bin/python tools/nhi-evidence verify $${latest%/}"; \
	  fi; \
	else \
	  echo "make demo: the playbook ran but no evidence/<run_id>/report.html was found under $(EVIDENCE_ROOT)" >&2; \
	  echo "Is the nhi.lifecycle.evidence callback enabled (ansible.cfg callbacks_enabled)?" >&2; \
	  exit 1; \
	fi
	@echo "The backends are still running (endpoints: .run/backends.env); stop them with 'make backends-stop'."

# ---------------------------------------------------------------- checks

sanity: venv
	@scripts/sanity.sh sanity

lint: venv
	@scripts/sanity.sh lint

docs-lint: venv
	@scripts/sanity.sh docs-lint

# pytest exits 5 when it collected nothing; make treats that (like any
# non-zero status) as a failure, so an empty suite never passes.
unit: venv
	@cd $(ROOT) && PYTHONPATH=$(COLLECTIONS) $(PY) -m pytest $(PYTEST_OPTS) -n $(UNIT_WORKERS) tests/unit $(UNIT_ARGS) $(PYTEST_ARGS)

# Starts the backends unless they already run, and stops them afterwards
# (also on failure) when it started them. The stop goes to a log so that
# pytest's summary stays the last line.
integration: venv
	@cd $(ROOT); \
	if scripts/backends.sh status >/dev/null 2>&1; then \
	  echo "make integration: using the backends that already run (.run/backends.env)"; \
	else \
	  trap 'scripts/backends.sh stop >>$(RUN)/backends-stop.log 2>&1' EXIT; \
	  scripts/backends.sh start >/dev/null; \
	fi; \
	PYTHONPATH=$(COLLECTIONS) $(PY) -m pytest $(PYTEST_OPTS) -n $(INTEGRATION_WORKERS) tests/integration $(INTEGRATION_ARGS) $(PYTEST_ARGS)

# Every role's Molecule scenario (extensions/molecule/<name>/: converge,
# idempotence, verify, cleanup) against the real local backends, which
# scripts/molecule.sh starts and stops like the integration target does.
# One scenario: make molecule MOLECULE_SCENARIOS=rotate (or scripts/molecule.sh rotate).
molecule: venv
	@cd $(ROOT) && scripts/molecule.sh $(MOLECULE_SCENARIOS)

compat: $(STAMP219)
	@cd $(ROOT); \
	shopt -s nullglob; books=(playbooks/*.yml); \
	inv=(); [[ -d inventories/example ]] || inv=(-i localhost,); \
	export ANSIBLE_CONFIG=$(ROOT)/ansible.cfg ANSIBLE_COLLECTIONS_PATH=$(COLLECTIONS); \
	if (( $${#books[@]} )); then \
	  for b in "$${books[@]}"; do \
	    if ! out=$$($(VENV219)/bin/ansible-playbook --syntax-check "$$b" "$${inv[@]}" 2>&1); then \
	      printf '%s\n' "$$out" >&2; \
	      echo "make compat: ansible-playbook --syntax-check $$b failed under ansible-core 2.19 (output above)" >&2; \
	      exit 1; \
	    fi; \
	  done; \
	  echo "make compat: --syntax-check passed under ansible-core 2.19 for $${#books[@]} playbook(s)"; \
	else \
	  echo "make compat: no playbooks/*.yml yet; skipping --syntax-check"; \
	fi; \
	PYTHONPATH=$(COLLECTIONS) $(VENV219)/bin/python -m pytest $(PYTEST_OPTS) -n $(UNIT_WORKERS) tests/unit $(UNIT_ARGS) $(PYTEST_ARGS)

# `make test` runs every step even when an earlier one fails (so one run shows
# all failures), prints which failed, and runs the integration tests last so
# that its final line is pytest's own summary. Any failure -> non-zero exit.
test: venv
	@cd $(ROOT); failed=(); \
	for step in sanity lint docs-lint unit compat molecule; do \
	  echo "==================== make $$step ===================="; \
	  start=$$SECONDS; \
	  if $(MAKE) $$step; then echo "make $$step: ok ($$((SECONDS - start)) s)"; \
	  else echo "make $$step: FAILED ($$((SECONDS - start)) s)"; failed+=("$$step"); fi; \
	done; \
	if (( $${#failed[@]} )); then echo "make test: failed so far: $${failed[*]} (integration runs anyway)"; fi; \
	echo "==================== make integration ===================="; \
	rc=0; $(MAKE) integration || rc=$$?; \
	if (( rc != 0 || $${#failed[@]} )); then exit 1; fi

PEER_VENV := $(ROOT)/.venv-peer
PEER_STAMP := $(PEER_VENV)/.nhi-requirements.stamp
# Options for bench/run.py, e.g. make bench BENCH_ARGS="--n 100,1000 --ops rotate"
BENCH_ARGS ?=

$(PEER_STAMP): bench/peer/requirements.txt
	@if [[ -z "$(PYTHON311)" ]]; then \
	  echo "make bench: no Python 3.11 for the peer venv: looked for $(PY311_PYENV) and python3.11 on PATH." >&2; \
	  echo "Install it, run 'make bench PYTHON311=/path/to/python3.11', or skip the peer: make bench BENCH_ARGS='--contenders floor,ours'" >&2; \
	  exit 1; \
	fi
	@mkdir -p $(RUN)
	@if [[ ! -x $(PEER_VENV)/bin/python ]]; then \
	  echo "make bench: creating $(PEER_VENV) with $(PYTHON311)"; \
	  $(PYTHON311) -m venv $(PEER_VENV); \
	fi
	@echo "make bench: installing the peer contender (bench/peer/requirements.txt; log: $(RUN)/pip-venv-peer.log)"
	@if ! $(PEER_VENV)/bin/python -m pip install --disable-pip-version-check \
	    -r bench/peer/requirements.txt >$(RUN)/pip-venv-peer.log 2>&1; then \
	  grep -v "^WARNING: Location '" $(RUN)/pip-venv-peer.log | tail -n 30 >&2; \
	  echo "make bench: pip install failed; full log: $(RUN)/pip-venv-peer.log" >&2; \
	  exit 1; \
	fi
	@touch $@

# The peer venv is built only when the peer runs (the default; not with
# BENCH_ARGS="--contenders floor,ours").
BENCH_PEER := $(if $(findstring --contenders,$(BENCH_ARGS)),$(findstring peer,$(BENCH_ARGS)),yes)

bench: venv $(if $(BENCH_PEER),$(PEER_STAMP))
	@cd $(ROOT) && $(PY) bench/run.py $(BENCH_ARGS)

clean:
	@-scripts/backends.sh stop 2>/dev/null
	rm -rf $(VENV) $(VENV219) $(PEER_VENV) $(RUN) tests/output docs/build bench/results .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
	@echo "make clean: kept evidence/ (audit records of past runs); remove it by hand if you mean to."

# ---------------------------------------------------------------- docs
# Added by the docs-site owner (docs/docsite/, requirements/docs.txt).
# make docs: the documentation site (guides from docs/*.md and the plugin
# reference from antsibull-docs) into docs/build/html, offline, with every
# Sphinx warning an error. requirements/docs.txt goes into .venv on first use
# and again when it changes. DOCS_ARGS=--allow-plugin-errors renders a plugin
# whose documentation does not validate as an error page instead of failing.
DOCS_STAMP := $(VENV)/.nhi-docs-requirements.stamp
DOCS_ARGS ?=

$(DOCS_STAMP): requirements/docs.txt $(STAMP)
	@echo "make docs: installing requirements/docs.txt into $(VENV) (log: $(RUN)/pip-docs.log)"
	@if ! $(PY) -m pip install --disable-pip-version-check -r requirements/docs.txt >$(RUN)/pip-docs.log 2>&1; then \
	  grep -v "^WARNING: Location '" $(RUN)/pip-docs.log | tail -n 30 >&2; \
	  echo "make docs: pip install failed; full log: $(RUN)/pip-docs.log" >&2; \
	  exit 1; \
	fi
	@touch $@

.PHONY: docs
docs: venv $(DOCS_STAMP)
	@cd $(ROOT) && $(PY) docs/docsite/build.py $(DOCS_ARGS)
