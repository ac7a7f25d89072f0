# clusterhpc: `make demo` runs the main job, `make test` the test suite; both set up what they
# need first (the demo: MPI, build tools and the venv; the tests: also a local Slurm's packages).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= configs/quickstart.yaml

.PHONY: install demo test test-fast test-avx2 lint format bench clean

TEST_STAMP := $(VENV)/.installed-test-services

$(STAMP): setup.cfg pyproject.toml scripts/install-system.sh scripts/install-horovod.sh
	bash scripts/install-system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[cpu,test]'
	bash scripts/install-horovod.sh $(PY)
	touch $@

install: $(STAMP)

# The test suite also needs a local Slurm (munge, slurmctld/d/dbd, MariaDB): only for tests.
$(TEST_STAMP): $(STAMP) scripts/install-system.sh
	bash scripts/install-system.sh --test
	touch $@

demo: $(STAMP)
	$(VENV)/bin/clusterhpc run $(CONFIG)

test: $(TEST_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The tests that assert on trained models again, on oneDNN's AVX2 float path (a machine with
# AVX-512 runs another path natively): both must stay green.
test-avx2: $(TEST_STAMP)
	ONEDNN_MAX_CPU_ISA=AVX2 $(PY) -m pytest -m trained $(PYTEST_ARGS)

test-fast: $(TEST_STAMP)
	$(PY) -m pytest -m "not slow and not slurm" $(PYTEST_ARGS)

# ruff, then pylint's copy-and-paste check over the package (4 or more like lines, imports,
# docstrings, comments and signatures aside)
lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	$(VENV)/bin/pylint --disable=all --enable=duplicate-code --min-similarity-lines=4 \
		--ignore-imports=yes --ignore-docstrings=yes --ignore-comments=yes \
		--ignore-signatures=yes --score=no clusterhpc

format: $(STAMP)
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
