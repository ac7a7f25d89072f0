# clusterhpc: `make demo` runs the main job, `make test` the test suite; both set up what they
# need first (the demo: MPI, build tools and the venv; the tests: also a local Slurm's packages).
#
# Two supported stacks (setup.cfg pins them), each in its own venv so that they never mix:
#   Python 3.11 + TensorFlow 2.15 (Keras 2 built in)   the reference stack     .venv
#   Python 3.12 + TensorFlow 2.17 + tf_keras            the second stack        .venv-py312
# The interpreter: PYTHON=... if given, else python3.11, python3.12 or python3 from PATH (or
# pyenv), see scripts/pick-python.sh, which says what to install when none fits. VENV=... overrides.
PICKED := $(shell bash scripts/pick-python.sh $(PYTHON))
$(if $(PICKED),,$(error no supported Python, see the message above))
PYTHON_PATH := $(word 1,$(PICKED))
PYTHON_VERSION := $(word 2,$(PICKED))
VENV ?= $(if $(filter 3.11,$(PYTHON_VERSION)),.venv,.venv-py$(subst .,,$(PYTHON_VERSION)))
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= configs/quickstart.yaml
# auto: apt-get what is missing (root or sudo), or use MPI and compilers already on PATH;
# skip: install no system packages (see scripts/install-system.sh)
SYSTEM_PACKAGES ?= auto
# What `make test-stack2` runs on the second stack: Horovod's 2-rank equivalence (identical
# weights across ranks), the tiny end-to-end pipeline on 2 ranks, the stack detection.
STACK2_PYTHON ?= python3.12
STACK2_VENV ?= .venv-py312
STACK2_TESTS ?= tests/test_stacks.py tests/horovod/test_horovod_equivalence.py \
	tests/train/test_horovod_trainer.py tests/test_pipeline.py

.PHONY: install demo test test-fast test-avx2 test-stack2 lint format bench clean

TEST_STAMP := $(VENV)/.installed-test-services

$(STAMP): setup.cfg pyproject.toml scripts/install-system.sh scripts/install-tf-keras.sh \
		scripts/install-horovod.sh
	SYSTEM_PACKAGES=$(SYSTEM_PACKAGES) bash scripts/install-system.sh
	test -x $(PY) || $(PYTHON_PATH) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[cpu,test]'
	bash scripts/install-tf-keras.sh $(PY)
	bash scripts/install-horovod.sh $(PY)
	touch $@

install: $(STAMP)

# The test suite also needs a local Slurm (munge, slurmctld/d/dbd, MariaDB): only for tests.
$(TEST_STAMP): $(STAMP) scripts/install-system.sh
	SYSTEM_PACKAGES=$(SYSTEM_PACKAGES) bash scripts/install-system.sh --test
	touch $@

demo: $(STAMP)
	$(VENV)/bin/clusterhpc run $(CONFIG)

test: $(TEST_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The tests that assert on trained models again, on oneDNN's AVX2 float path (a machine with
# AVX-512 runs another path natively): both must stay green.
test-avx2: $(TEST_STAMP)
	ONEDNN_MAX_CPU_ISA=AVX2 $(PY) -m pytest -m trained $(PYTEST_ARGS)

# The second stack (Python 3.12) in its own venv, next to the reference one: the tests that
# break first when TensorFlow, Keras or Horovod change. Needs no Slurm.
test-stack2:
	$(MAKE) --no-print-directory install PYTHON=$(STACK2_PYTHON) VENV=$(STACK2_VENV)
	$(STACK2_VENV)/bin/clusterhpc doctor
	$(STACK2_VENV)/bin/python -m pytest $(STACK2_TESTS) $(PYTEST_ARGS)

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

# detector_levers.py trains a quickstart-size model per lever (about 15 min each here): run it
# on its own (README, Benchmarks).
bench: $(STAMP)
	@for script in benchmarks/*.py; do \
		case $$script in *detector_levers.py) continue;; esac; \
		echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
