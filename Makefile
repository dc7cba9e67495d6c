# The two commands: `make run` and `make test`. Everything else is what they build on.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/pickaxe_bench

.PHONY: install run test bench clean

$(PY):
	@python=$$(bin/find-python) && echo "Creating $(VENV) with $$python" && "$$python" -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) manage.py migrate --no-input
	$(PY) manage.py demo_data
	$(PY) manage.py runserver 127.0.0.1:8000

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis staticfiles
