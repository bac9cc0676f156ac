# score-cluster: one command each to set up, try, test and measure.
#   make demo   set up, build a release binary, score built-in sample data with 2 workers
#   make test   set up, build, run the whole test suite (what CI runs)
#   make bench  set up (plus pyspark, matplotlib, Java 17), build a release binary, compare with the
#               pure-Python baselines and spark_udf (BENCH_ARGS="--rows 2000000" etc. narrows it)

SHELL := /bin/bash
PYTHON := .venv/bin/python
RELEASE := .build/release/score-cluster
DEMO := demo-data
DEMO_ROWS ?= 1000000
BENCH_ARGS ?=

.PHONY: setup bench-setup build release demo test bench clean

setup:
	@bash scripts/setup.sh

bench-setup: setup
	@bash scripts/setup-bench.sh

build: setup
	swift build

release: setup
	swift build -c release

demo: release
	@if [ ! -f $(DEMO)/.ready-$(DEMO_ROWS) ]; then \
	  rm -rf $(DEMO) && mkdir -p $(DEMO) && \
	  $(PYTHON) scripts/make_dataset.py --rows $(DEMO_ROWS) --files 4 --features 8 --out $(DEMO)/input && \
	  $(PYTHON) scripts/make_models.py --features 8 --out $(DEMO)/models > /dev/null && \
	  touch $(DEMO)/.ready-$(DEMO_ROWS); \
	fi
	$(RELEASE) run --model $(DEMO)/models/sklearn_linear --input $(DEMO)/input --output $(DEMO)/output \
	  --columns f0,f1,f2,f3,f4,f5,f6,f7 --workers 2 --overwrite

test: build
	swift test

bench: release bench-setup
	$(PYTHON) bench/bench.py --binary $(RELEASE) --with-spark $(BENCH_ARGS)

clean:
	rm -rf .build $(DEMO) bench/out
