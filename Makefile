# Building a WaveNet: `make book` builds the executed book, `make test` runs every check.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
JB     := $(VENV)/bin/jupyter-book
STAMP  := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)

.PHONY: setup data book book-fast chapter test test-fast exercises grade validate lab calibrate bench bench-gpu train sweep dist gradescope student-release student-release-check clean

## setup: make .venv, install the pinned dependencies, obtain data/names.txt, and the system packages
## grading and the reader tests need (bubblewrap, chromium: autograder/system_packages.sh; a no-op once they
## are there; without root or sudo it prints the command to run; SKIP_SYSTEM_PACKAGES=1 skips it)
setup: $(STAMP) data/names.txt
	@bash autograder/system_packages.sh

$(STAMP): requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
	@# make data/, wavenet/ and autograder/ importable from any folder (book pages, nbgrader)
	echo "$(CURDIR)" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/building-a-wavenet.pth"
	touch $@

## data: download names.txt (or copy $$NAMES_TXT) and check its sha256
data data/names.txt: | $(STAMP)
	$(PY) -m wavenet.data

## book: the full executed book in _build/html: chapters run in parallel, one per core, into
## Jupyter Book's cache (book/execute.py), then the build renders them (unchanged chapters are not rerun)
## (book/execute.py runs again only when a page or the toc is newer than its last run: a stamp in the cache)
CHAPTERS := $(wildcard book/*.md) _toc.yml _config.yml
book: setup _build/.jupyter_cache/executed.stamp
	$(JB) build . -W --keep-going

_build/.jupyter_cache/executed.stamp: $(CHAPTERS) | setup
	$(PY) book/execute.py
	touch $@

## book-fast: every cell run with COURSE_FAST=1 (100x shorter training), in _build/fast/_build/html
book-fast: setup _build/fast/_build/.jupyter_cache/executed.stamp
	COURSE_FAST=1 $(JB) build . -W --keep-going --path-output _build/fast

_build/fast/_build/.jupyter_cache/executed.stamp: $(CHAPTERS) | setup
	COURSE_FAST=1 $(PY) book/execute.py --path-output _build/fast
	touch $@

## chapter: rebuild one page alone, e.g. `make chapter CH=book/05_hierarchical.md`
chapter: setup
	$(JB) build $(CH) -W

## test: unit tests, the fast book, the reader test, grading of every assignment
test: setup book-fast
	$(PY) -m pytest -q --durations=25 tests

## test-fast: the tests that need no sandbox, no browser, no built book and no GPU, and build nothing slow
## (ALLOW_SKIP=sandbox,browser,cgroup lets `make test` skip, with the reason, what this machine cannot run)
test-fast: setup
	$(PY) -m pytest -q -m "not sandbox and not browser and not slow and not gpu" tests

## exercises: regenerate exercises/ from solutions/ with nbgrader
exercises: setup
	$(PY) -m autograder release

## grade: grade one notebook, e.g. `make grade ASSIGNMENT=01_layers NB=path/to.ipynb`
grade: setup
	$(PY) -m autograder grade $(ASSIGNMENT) $(NB)

## validate: `python -m wavenet.checks.validate NB` (a learner's check before submitting), e.g. `make validate NB=exercises/01_layers/01_layers.ipynb`
# Its report is the whole answer: make stays silent and does not add its own error line (the status is 0;
# scripts that need 1 on problems call python -m wavenet.checks.validate).
ifeq ($(MAKECMDGOALS),validate)
MAKEFLAGS += --silent
endif
validate: setup
	-$(PY) -m wavenet.checks.validate $(NB)

## lab: JupyterLab as learners see it, rooted at the course (every exercise and the book in reach), on exercise 1:
## the learner settings (learner/jupyter: nbgrader's menus and server extensions off, no news pop-up),
## and .venv/bin first on PATH, so `python` in its terminals is the course's
lab: setup
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" JUPYTER_CONFIG_PATH="$(CURDIR)/learner/jupyter" \
		$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" exercises/01_layers/01_layers.ipynb

## dist: the learner package as a wheel in $$DIST (default dist/), names.txt inside (from data/names.txt or $$NAMES_TXT)
DIST ?= dist
dist: setup
	rm -f $(DIST)/building_a_wavenet-*.whl
	@# the environment's own setuptools: no download, so it builds offline too
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w $(DIST) .
	rm -rf build building_a_wavenet.egg-info

## gradescope: a Gradescope autograder zip for one assignment, e.g. `make gradescope ASSIGNMENT=01_layers`
## ($$GRADESCOPE_ZIP, default dist/gradescope-ASSIGNMENT.zip; the wheel of `make dist` inside; keep it private)
GRADESCOPE_ZIP ?= $(DIST)/gradescope-$(ASSIGNMENT).zip
gradescope: dist
	$(PY) -m autograder gradescope $(ASSIGNMENT) --to $(GRADESCOPE_ZIP) --wheel $$(ls $(DIST)/building_a_wavenet-*.whl)

## student-release: what students get, in one folder ($$STUDENT_RELEASE, default _build/student-release):
## the exercises, the rendered book ($$BOOK_HTML, default the full book of `make book`), the wheel, learner/README.md
## and the learner settings (learner/jupyter as jupyter/). It refuses exercises whose package location is unset in
## pyproject.toml or stale (autograder/authoring/student_release.py) unless LOCAL_ONLY=1 (learners install the release's wheel).
## It builds the book it copies when that is the course's (_build/html: `make book`; _build/fast/_build/html:
## `make book-fast`); any other $$BOOK_HTML must exist. Built in $$STUDENT_RELEASE.tmp, moved into place at the end.
STUDENT_RELEASE ?= _build/student-release
BOOK_HTML ?= _build/html
RELEASE_DIR := $(patsubst %/,%,$(STUDENT_RELEASE))
RELEASE_TMP := $(RELEASE_DIR).tmp
RELEASE_BOOK := $(if $(filter $(CURDIR)/_build/html,$(abspath $(BOOK_HTML))),book,$(if \
	$(filter $(CURDIR)/_build/fast/_build/html,$(abspath $(BOOK_HTML))),book-fast))
ifneq ($(filter student-release,$(MAKECMDGOALS)),)
ifeq ($(RELEASE_BOOK)$(wildcard $(BOOK_HTML)),)
$(error BOOK_HTML=$(BOOK_HTML) does not exist; build it first (make book or make book-fast))
endif
endif
student-release-check: setup
	$(PY) -m autograder.authoring.student_release $(if $(filter-out 0,$(LOCAL_ONLY)),--local-only)

student-release: student-release-check dist $(RELEASE_BOOK)
	rm -rf "$(RELEASE_TMP)"
	set -e; trap 'rm -rf "$(RELEASE_TMP)"' EXIT; \
	mkdir -p "$(RELEASE_TMP)/exercises"; \
	(cd exercises && find . -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' \
		-exec cp --parents -t "$(abspath $(RELEASE_TMP))/exercises" {} +); \
	cp -r "$(BOOK_HTML)" "$(RELEASE_TMP)/book"; \
	cp $(DIST)/building_a_wavenet-*.whl learner/README.md "$(RELEASE_TMP)/"; \
	cp -r learner/jupyter "$(RELEASE_TMP)/jupyter"; \
	rm -rf "$(RELEASE_DIR)"; mv "$(RELEASE_TMP)" "$(RELEASE_DIR)"

## calibrate: re-derive a validation-loss target from the solution, e.g. `make calibrate ASSIGNMENT=05_scaled_up`
calibrate: setup
	$(PY) -m autograder calibrate $(ASSIGNMENT)

## train: one harness run, e.g. `make train ARGS="--model conv --optimizer adamw --lr 3e-3 --schedule cosine --steps 4000 --batch-size 64"`
train: setup
	$(PY) -m wavenet.experiment train $(ARGS)

## sweep: chapter 9's grid with the harness (or your own: ARGS="--grid lr=1e-3,3e-3 --steps 2000 ...");
## ARGS without a --grid add to chapter 9's, e.g. ARGS="--scheduler tcp://HOST:8786" runs it on a Dask cluster
SWEEP_ARGS ?= --optimizer adamw --lr 3e-3 --schedule cosine --steps 2000 --batch-size 512 \
	--weight-decay 0.1 --threads 1 --grid n_embd=24,48 --grid n_hidden=128,192 --prefix sweep
sweep: setup
	$(PY) -m wavenet.experiment sweep $(if $(findstring --grid,$(ARGS)),$(ARGS),$(SWEEP_ARGS) $(ARGS))

## bench: speed ratios on this machine (training loops, on the GPU too if there is one; conv vs position loop; grading time)
bench: setup
	$(PY) bench/run.py $(ARGS)

## bench-gpu: chapter 7's recipe on a CUDA GPU (CUDA graph), ratios to eager GPU and CPU loops, val loss; skips without CUDA
bench-gpu: setup
	$(PY) bench/gpu.py $(ARGS)

clean:
	rm -rf _build .nbgrader_work
