# log-collector: build, test, run the demo, install.
CARGO   ?= cargo
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(DESTDIR)$(PREFIX)/bin
UNITDIR := $(DESTDIR)$(PREFIX)/lib/systemd/system
CONFDIR := $(DESTDIR)/etc

RELEASE := target/release
# `make run` keeps its state here, not in the user's home.
RUN_STATE := target/run-state

.PHONY: all build release test lint run install uninstall clean fuzz

all: build

build:
	$(CARGO) build --locked

release:
	$(CARGO) build --locked --release

# The project's test command (CI runs it too).
test:
	$(CARGO) test --locked

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Build, start the generator appending to sample_logs/live.log (rotating it
# every 400 lines), and follow sample_logs/*.log to stdout. Ctrl-C stops both.
run: release
	@echo "following sample_logs/*.log (state in $(RUN_STATE)); Ctrl-C to stop" >&2
	@$(RELEASE)/loggen --rate 5 --rotate-every 400 --keep 2 sample_logs/live.log & gen=$$!; \
	trap 'kill $$gen 2>/dev/null' EXIT INT TERM; \
	$(RELEASE)/log-collector --state-dir $(RUN_STATE) 'sample_logs/*.log'

# Fuzz each target for FUZZ_SECONDS (not part of CI). Needs the nightly
# toolchain; cargo-fuzz is installed from crates.io when missing.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := checkpoint config glob split_encode
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
		$(CARGO) +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

install: release
	install -Dm755 $(RELEASE)/log-collector $(BINDIR)/log-collector
	install -Dm644 systemd/log-collector.service $(UNITDIR)/log-collector.service
	@if [ ! -e $(CONFDIR)/log-collector.conf ]; then \
		install -Dm644 systemd/log-collector.conf $(CONFDIR)/log-collector.conf; fi

uninstall:
	rm -f $(BINDIR)/log-collector $(UNITDIR)/log-collector.service

clean:
	$(CARGO) clean
	rm -f sample_logs/live.log sample_logs/live.log.*
