# The README's two commands: `make book` and `make test`. Both install uv if it is missing
# and sync the locked environment first, so they work on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv through tools/uv.sh, which finds uv when a recipe runs (on PATH, or the copy `make setup`
# installed) and installs it if missing: into .tools/uv-venv with python3 -m venv + pip (works
# with Debian/Ubuntu's externally managed Python), else with pipx; else it says what to install.
UV := $(SHELL) tools/uv.sh
RUN := $(UV) run --frozen
# Execution cache of the chapters (jupyter-cache). Its key is the code of each notebook only,
# so a change in src/ or uv.lock would leave stale outputs: we fingerprint both and clear the
# cache when the fingerprint changes.
CACHE_DIR := _build/.jupyter_cache
# The executed chapters (pages with a kernel), run JOBS at a time into the cache before the
# build (book/_ext/execute.py says why).
CHAPTERS = $$(grep -l '^kernelspec:' book/*.md)
JOBS ?= 2
STAMP := $(CACHE_DIR)/inputs.sha256
FINGERPRINT = cat uv.lock $$(find src -name '*.py' -not -path '*/__pycache__/*' | LC_ALL=C sort) | sha256sum | cut -d' ' -f1
# The book's Sphinx extension (book/_ext) shapes the pages but not the executed outputs, and
# Sphinx does not re-read pages when an extension changes: a change re-renders every page
# (from the execution cache).
EXT_STAMP := _build/html/.ext.sha256
EXT_FINGERPRINT = cat $$(find book/_ext book/_static -type f -not -path '*/__pycache__/*' | LC_ALL=C sort) _config.yml | sha256sum | cut -d' ' -f1

.PHONY: help setup book book-cold chapter test notebooks bench clean grade release mutants

help:
	@echo "make book    build the HTML book into _build/html (executes the chapters; cached)"
	@echo "make test    run the test suite"
	@echo "make chapter CH=book/channel_attention.md   re-execute one chapter, then rebuild the book"
	@echo "make notebooks  write every chapter as .ipynb (and one per framework) into _build/notebooks"
	@echo "make grade   grade the exercises' reference solutions (EX=01 FW=torch: one of them;"
	@echo "             SUBMISSION=dir: a student's files, with the hidden cases)"
	@echo "make release write the student template repository to _build/student"
	@echo "make mutants check that each deliberately wrong submission scores as expected"
	@echo "make bench   measure build, test and module timings"
	@echo "make serve   serve the pretrained MobileNetV2 over HTTP on 127.0.0.1:8000 (ATTENTION=cbam PORT=8001)"

setup:
	@$(UV) sync --frozen

book: setup
	@new=$$($(FINGERPRINT)); \
	if [ -d $(CACHE_DIR) ] && [ "$$(cat $(STAMP) 2>/dev/null)" != "$$new" ]; then \
		echo "src/ or uv.lock changed since the last build: clearing the execution cache"; \
		rm -rf $(CACHE_DIR) _build/html _build/jupyter_execute; fi
	@if [ -d _build/html ] && [ "$$(cat $(EXT_STAMP) 2>/dev/null)" != "$$($(EXT_FINGERPRINT))" ]; then \
		echo "book/_ext, book/_static or _config.yml changed: re-rendering every page"; \
		rm -rf _build/html _build/.doctrees; fi
	@$(RUN) python book/_ext/execute.py $(CHAPTERS) --cache $(CACHE_DIR) --jobs $(JOBS)
	$(RUN) jupyter-book build . --warningiserror --keep-going
	@mkdir -p $(CACHE_DIR) && $(FINGERPRINT) > $(STAMP) && $(EXT_FINGERPRINT) > $(EXT_STAMP)
	@echo; echo "Book built: open file://$(CURDIR)/_build/html/index.html"

book-cold:
	rm -rf _build
	$(MAKE) book

# Re-execute one chapter: drop its cached execution, then build the whole book (the other
# chapters come from the cache, so this costs about one chapter's execution time, and links,
# glossary and references resolve as in the full book).
chapter: setup
	@test -n "$(CH)" && test -f "$(CH)" || { echo "usage: make chapter CH=book/<chapter>.md, one of:" book/*.md; exit 2; }
	@$(RUN) python -c "import os, sys; from jupyter_cache import get_cache; \
	c = get_cache('$(CACHE_DIR)'); path = os.path.abspath(sys.argv[1]); \
	gone = [r.pk for r in c.list_cache_records() if r.uri == path]; [c.remove_cache(pk) for pk in gone]; \
	print(f'{sys.argv[1]}: dropped {len(gone)} cached execution(s)')" "$(CH)"
	@$(MAKE) --no-print-directory book

test: setup
	$(RUN) pytest

# Graded exercises (src/vision_attention/grading): grade the instructor's reference solutions
# in exercises/ (or a student's files: SUBMISSION=path/with/NN_name/<framework>.py), including
# the hidden cases; `make release` writes the student template repository.
grade: setup
	$(RUN) python -m vision_attention.grading grade $(if $(EX),--exercise $(EX)) \
		$(if $(FW),--framework $(FW)) $(if $(SUBMISSION),--submission $(SUBMISSION))

release: setup
	$(RUN) python -m vision_attention.grading release --out _build/student

# Serve the ImageNet-pretrained MobileNetV2 (ATTENTION=none|se|eca|cbam|bam) over HTTP on
# 127.0.0.1:$(PORT) with ONNX Runtime (README, "Serving a model"). The first run exports it to
# _build/serve/$(ATTENTION)/ (model.onnx, labels.json); later runs reuse the files.
ATTENTION ?= none
PORT ?= 8000
.PHONY: serve
serve: setup
	@test -f _build/serve/$(ATTENTION)/model.onnx -a -f _build/serve/$(ATTENTION)/labels.json || \
		$(RUN) python -m vision_attention.serve.prepare \
		--out _build/serve/$(ATTENTION) --attention $(ATTENTION)
	$(RUN) python -m vision_attention.serve --model _build/serve/$(ATTENTION)/model.onnx \
		--labels _build/serve/$(ATTENTION)/labels.json --port $(PORT)

# Instructor: every mutant in exercises/mutants/ must score exactly its expected points.
mutants: setup
	$(RUN) python -m vision_attention.grading mutants

# Every chapter as a Jupyter notebook, plus one per framework (book/_ext/notebooks.py), into
# _build/notebooks/ (unexecuted: you run them). The book's download menus offer executed ones.
notebooks: setup
	@$(RUN) python book/_ext/notebooks.py $(CHAPTERS) --out _build/notebooks

bench: setup
	$(RUN) python -m vision_attention.profiling.bench \
		--time "cold book build=make book-cold" \
		--time "cached rebuild=make book" \
		--time "test suite=make test" \
		--time "browser test=make browser-test" \
		--time "grade every exercise x framework (reference, hidden cases)=make grade" \
		--time "grader proof in CI (tests/test_grading_*.py)=$(RUN) pytest -q tests/test_grading_units.py tests/test_grading_proof.py" \
		--chapter-times _build/execution_times.json

clean:
	rm -rf _build

# Open every page of the built book (_build/html; run `make book` first) in headless Chromium
# (Debian's /usr/bin/chromium): console errors, requests off the machine, broken images, MathJax
# errors, content wider than the column, framework tabs that do not carry over. Screenshots
# go to _build/screenshots. tests/browser/check_book.py documents each check.
.PHONY: browser-test
browser-test: setup
	$(RUN) python tests/browser/check_book.py --html _build/html --screenshots _build/screenshots
