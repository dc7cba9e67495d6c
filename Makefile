# The two commands: `make run` and `make test`. Everything else is what they build on.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/pickaxe_bench

.PHONY: install run test lint bench bench-quick clean

$(PY):
	@python=$$(bin/find-python) && echo "Creating $(VENV) with $$python" && "$$python" -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# A worker (manage.py db_worker) runs beside the web server, as the Procfile's `worker:` does
# in production: emails, Stripe events and the stale-run sweep take the same path here as
# there, and a demo that ran tasks in-process would hide a worker that cannot start. A
# loop queues the sweep (and requeues tasks of a dead worker) every minute, as cron does in
# production. Ctrl-C stops all three.
# `make run` is development on purpose: DEBUG=true says so (settings warn when DEBUG is unset).
run: export DEBUG ?= true
run: install
	$(PY) manage.py migrate --no-input
	$(PY) manage.py demo_data
	@trap 'kill $$worker $$sweeper 2>/dev/null' EXIT; \
	$(PY) manage.py db_worker --no-startup-delay & worker=$$!; \
	while sleep 60; do $(PY) manage.py close_stale_runs --enqueue >/dev/null; \
		$(PY) manage.py requeue_abandoned_tasks >/dev/null; done & sweeper=$$!; \
	$(PY) -m uvicorn config.asgi:application --host 127.0.0.1 --port 8000 --reload --reload-dir config --reload-dir accounts --reload-dir credits --reload-dir billing --reload-dir pickaxes --reload-dir embeds --reload-dir templates

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff: lint rules and the formatter's check, as configured in pyproject.toml.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The bench's questions (bench/README.md): the ledger, the run path, the burst, a chat message. Each
# uses databases of its own named after BENCH_DATABASE_URL's and drops them at exit. All
# run even if one misses a target; then the target fails. `make bench-quick`: the
# same with small numbers (~4 minutes; a smoke test, its verdicts mean little).
bench: install
	@status=0; for script in ledger run_path burst chat; do \
		echo "== bench/$$script.py $(BENCH_ARGS)"; \
		DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/$$script.py $(BENCH_ARGS) || status=1; \
	done; exit $$status

bench-quick: BENCH_ARGS = --quick
bench-quick: bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis staticfiles
