# Everything a fresh machine needs is installed here, into $(VENV).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# On machines without torch we install this one; a torch that $(PYTHON) already
# has (a user's CUDA build) is kept and shared into the virtualenv instead.
TORCH_SPEC ?= torch==2.13.0
VENV_STAMP := $(VENV)/.venv-done
STAMP := $(VENV)/.setup-done
# Every package but torch at the version CI tested (make lock writes it).
CONSTRAINTS := constraints.txt
FLEET_STAMP := $(VENV)/.setup-fleet-done
CONFIG ?=
ARGS ?=
BASE ?=
NEW ?=
RUN ?=
DOCS ?=
RUNS ?=
SPEC ?= hybrid-inference

.PHONY: setup setup-fleet setup-browser lock bench compare tables docs report test test-every-vae test-fast test-gpu lint bench-overhead bench-precision bench-projection clean

setup: $(STAMP)

# The virtualenv with its torch, made once: the installs below share it.
$(VENV_STAMP):
	@if $(PYTHON) -c "import torch" >/dev/null 2>&1; then \
	  echo "setup: keeping torch $$($(PYTHON) -c 'import torch; print(torch.__version__)') from $(PYTHON)"; \
	  $(PYTHON) -m venv --system-site-packages $(VENV); \
	else \
	  echo "setup: installing $(TORCH_SPEC) into $(VENV)"; \
	  $(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install -q "$(TORCH_SPEC)"; \
	fi
	@touch $@

$(STAMP): $(VENV_STAMP) pyproject.toml $(CONSTRAINTS)
	$(VENV)/bin/pip install -q -c $(CONSTRAINTS) -e '.[dev]'
	@touch $@

# The tests also cover vae-bench fleet, on a Ray cluster they start: the fleet extra.
# One install of both extras on a fresh machine (it is also what `setup` installs).
setup-fleet: $(FLEET_STAMP)

$(FLEET_STAMP): $(VENV_STAMP) pyproject.toml $(CONSTRAINTS)
	$(VENV)/bin/pip install -q -c $(CONSTRAINTS) -e '.[dev,fleet]'
	@touch $(STAMP) $@

# constraints.txt anew from pyproject.toml: what pip resolves today for each Python
# vae-bench supports (a minute; needs the package index). Commit it with the change.
lock: $(VENV_STAMP)
	$(PY) tools/lock.py

# Without CONFIG: the shipped sweep `default` on a CUDA machine, `cpu` otherwise (a name
# is a shipped sweep, bench/configs/NAME.yaml; a path is your own).
bench: setup
	@config="$(CONFIG)"; \
	if [ -z "$$config" ]; then \
	  config=$$($(PY) -c "import torch; print('default' if torch.cuda.is_available() else 'cpu')"); \
	fi; \
	echo "vae-bench run $$config $(ARGS)"; \
	$(PY) -m bench run "$$config" $(ARGS)

# The documentation tables of a run (or several: RUN="a b"), as markdown on stdout.
tables: setup
	@if [ -z "$(RUN)" ]; then echo "usage: make tables RUN=results/runs/<id> [ARGS='--lang zh']"; exit 2; fi
	$(PY) -m bench tables $(RUN) $(ARGS)

# Regenerate the tables of a docs page in place from runs (one per GPU).
docs: setup
	@if [ -z "$(DOCS)" ] || [ -z "$(RUNS)" ]; then \
	  echo "usage: make docs DOCS=path/to/page.md RUNS='run1 run2 ...' [SPEC=$(SPEC)] [ARGS=--check]"; exit 2; \
	fi
	$(PY) -m bench docs update $(DOCS) --spec $(SPEC) $(RUNS) $(ARGS)

# Compare two stored runs case by case; exits 1 when a case regressed.
compare: setup
	@if [ -z "$(BASE)" ] || [ -z "$(NEW)" ]; then \
	  echo "usage: make compare BASE=results/runs/<id> NEW=results/runs/<id> [ARGS='--format md']"; exit 2; \
	fi
	$(PY) -m bench compare "$(BASE)" "$(NEW)" $(ARGS)

# Headless Chromium for the tests that load the report in a browser: Debian's package,
# installed where it is missing and this machine can (root, or sudo without a password,
# and apt-get). Where it cannot, those tests are skipped and say why; nothing fails here.
CHROMIUM_INSTALL := env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
setup-browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then as=""; elif sudo -n true 2>/dev/null; then as="sudo -n"; \
	else echo "setup-browser: no chromium and no root to install it: the browser tests will be skipped"; exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "setup-browser: no chromium and no apt-get: the browser tests will be skipped"; exit 0; fi; \
	echo "setup-browser: installing Debian's chromium (apt-get)"; \
	$$as $(CHROMIUM_INSTALL) >/dev/null 2>&1 || \
	  { $$as apt-get update -q >/dev/null 2>&1 && $$as $(CHROMIUM_INSTALL) >/dev/null 2>&1; } || \
	  echo "setup-browser: apt-get could not install chromium: the browser tests will be skipped"

# The HTML report of every run below results/ (the committed reference runs too), into
# results/site/ (ARGS="--baseline RUN" to compare every run with one).
report: setup
	$(PY) -m bench report results --out results/site $(ARGS)

# Two workers: most of the suite waits on worker processes, and a test file stays on
# one worker (its module fixtures, the Ray cluster of the fleet tests, are made once).
TEST_WORKERS ?= 2

test: setup-fleet setup-browser
	$(PY) -m pytest -q -rs -n $(TEST_WORKERS) --dist loadfile -m "not every_vae"

# Every registered model built and run once at its smallest size on the CPU
# (bench/configs/every-vae-cpu.yaml): minutes, so apart from make test.
test-every-vae: setup
	$(PY) -m pytest -q -m every_vae

# The suite without the tests marked slow (sweeps in worker processes, real
# architectures, subprocesses): seconds instead of minutes, for the edit-test loop.
test-fast: setup-fleet
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow and not every_vae"

test-gpu: setup
	$(PY) -m pytest -q -m gpu

lint: setup
	$(PY) -m ruff check bench tests tools

bench-overhead: setup
	$(PY) tests/perf/overhead.py $(ARGS)

# configs/cpu.yaml with repeats: auto and with a fixed 5, alternating: each case's
# interval, drift and stationarity, the identical-work pairs, and a summary line
# (two sweeps; ARGS="--runs 3" for the spread across runs, --run DIR for stored runs).
bench-precision: setup
	$(PY) tests/perf/precision.py $(ARGS)

# The H200 docs run projected onto the published cards, cell by cell (seconds).
bench-projection: setup
	$(PY) tests/perf/projection.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
