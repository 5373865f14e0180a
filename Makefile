# Two commands for a fresh machine: `make run` (the product, with demo data) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# The demo writes its emails to var/mail/ instead of the terminal, so the logins stay in view.
run: export SITE_URL ?= http://$(HOST):$(PORT)
run: export EMAIL_BACKEND ?= django.core.mail.backends.filebased.EmailBackend
run: export EMAIL_FILE_PATH ?= var/mail
# The demo runs with DEBUG on (production's default is off: README "Production settings"),
# and lives: `serve --demo` keeps new leads arriving (demo_life, DEBUG only).
run: export DEBUG ?= true
run: install
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py createcachetable
	$(PY) manage.py generate_vapid_keys --env-file .env  # the demo's own web push keys, kept
	$(PY) manage.py seed_demo
	@echo "Emails are written to $(EMAIL_FILE_PATH)/ (set EMAIL_BACKEND to send them)."
	$(PY) manage.py serve --demo --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest

# ruff; the import layers (pyproject's [tool.importlinter]); strict types of the decision core
# (pyproject's [tool.mypy]); no model change without its migration.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m mypy
	$(PY) manage.py makemigrations --check --dry-run

bench: install
	$(PY) manage.py bench_routing

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles
