# Two commands do everything on a fresh machine with only python3 (see README, "Quick start"):
#   make reproduce   create .venv, install pinned deps, run the whole workflow on the default config,
#                    then build results/report.html
#   make test        create .venv if needed, lint (ruff, snakefmt, snakemake --lint), run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)
CORES  ?= all

# Rules call `python -m ferrepro`, so the venv must come first on PATH for snakemake's shell commands.
export PATH := $(BIN):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: reproduce test browser install lint dryrun report bench lock clean-results pull push

reproduce: $(STAMP)
	snakemake --cores $(CORES)
	snakemake --report results/report.html

test: lint browser
	python -m pytest -n 2 --dist loadgroup -q

# tests/test_report.py opens the Snakemake report in headless Chromium. On a clean Debian/Ubuntu machine
# (CI) install Debian's `chromium` package first; elsewhere the browser checks are skipped with a reason.
browser:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get > /dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  echo "installing Debian's chromium for the report test (apt-get)"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium > /dev/null \
	    || echo "could not install chromium: tests/test_report.py will skip its browser checks"; \
	fi

install: $(STAMP)

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing pinned dependencies into $(VENV) (first time: a few minutes)"
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[landmarks,test]' 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import ferrepro, torch, torchvision, lightning, snakemake, cv2, dlib"
	@rm -f $(VENV)/.installed-*
	@touch $@

# Settings in pyproject.toml ([tool.ruff], [tool.snakefmt]); `ruff format . && snakefmt .` fixes the formatting.
lint: $(STAMP)
	ruff check .
	ruff format --check .
	snakefmt --check .
	snakemake --lint

dryrun: $(STAMP)
	snakemake -n

report: $(STAMP)
	snakemake --report results/report.html

bench: $(STAMP)
	python bench/run.py

# Team loop (README, "Working in a team"). After `dvc pull` every file has a fresh mtime in no particular
# order; `snakemake --touch` restores input-before-output order without computing anything, so a dry run
# then schedules 0 jobs. Only valid right after a pull, before editing configs.
pull:
	dvc pull
	snakemake --touch --cores 1 --quiet

push:
	dvc commit --force
	dvc push

# Refresh requirements.lock from the current venv after changing a pin in pyproject.toml.
lock: $(STAMP)
	python -m pip freeze --exclude-editable | grep -v '^ferrepro' > requirements.lock.new
	( echo '# Exact versions installed by `make` (pip install -c requirements.lock). Regenerate with `make lock`.'; cat requirements.lock.new ) > requirements.lock
	rm requirements.lock.new

clean-results:
	rm -rf results/decoded results/splits results/runs results/logs results/benchmarks results/summary.*
