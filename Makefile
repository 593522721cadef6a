# log-collector: build, test, run the demo, install.
CARGO   ?= cargo
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(DESTDIR)$(PREFIX)/bin
UNITDIR := $(DESTDIR)$(PREFIX)/lib/systemd/system
MANDIR  := $(DESTDIR)$(PREFIX)/share/man/man1
CONFDIR := $(DESTDIR)/etc

RELEASE := target/release
# `make run` keeps its state here, not in the user's home.
RUN_STATE := target/run-state


.PHONY: demo bench deb deb-arm64 deb-armhf
.PHONY: all build release test lint run clean-run install uninstall clean fuzz cross-setup cross-aarch64 cross-armv7 test-cross

all: build

build:
	$(CARGO) build --locked

# Not echoed: `make run` prints log lines on stdout, and this would be the
# first of them (cargo reports on stderr).
release:
	@$(CARGO) build --locked --release

# The project's test command (CI runs it too). CARGO_TEST_ARGS: a filter,
# or `-- --skip NAME`.
CARGO_TEST_ARGS ?=
test:
	$(CARGO) test --locked $(CARGO_TEST_ARGS)

# The unit under a real systemd (tests/systemd/run.sh): as root, systemd
# boots in namespaces on an overlay of /, so the host is left as it was.
# SYSTEMD_TEST_ARGS: `--deb FILE` installs a package instead of the build.
.PHONY: test-systemd
SYSTEMD_TEST_ARGS ?=
test-systemd: build
	bash tests/systemd/run.sh $(SYSTEMD_TEST_ARGS)

# The README's Kafka pipeline end to end (tests/kafka/run.sh): the collector
# with `-o '|kcat -P ...'` into a tansu broker on 127.0.0.1, read back with
# `kcat -C`, across a SIGTERM restart and a kill -9. Needs kcat and tansu
# (or KAFKA_BROKER=host:port); a missing one fails. Not in CI.
.PHONY: test-kafka
test-kafka: build
	bash tests/kafka/run.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Build, start the generator appending to sample_logs/live.log (rotating it
# every 400 lines), and follow sample_logs/*.log to stdout. Ctrl-C stops both.
# The checkpoint in RUN_STATE is kept, so a second run shows only new lines;
# `make clean-run` starts over.
run: release
	@echo "following sample_logs/*.log (state in $(RUN_STATE)); Ctrl-C to stop" >&2
	@if [ -e $(RUN_STATE)/checkpoints ]; then \
		echo "state kept in $(RUN_STATE): lines already delivered are not shown again;" \
			"\`make clean-run\` (or rm -rf $(RUN_STATE)) starts over" >&2; fi
	@$(RELEASE)/loggen --rate 5 --rotate-every 400 --keep 2 sample_logs/live.log & gen=$$!; \
	trap 'kill $$gen 2>/dev/null' EXIT INT TERM; \
	$(RELEASE)/log-collector --state-dir $(RUN_STATE) 'sample_logs/*.log'

# Forget what `make run` delivered, and the generated live log.
clean-run:
	rm -rf $(RUN_STATE) sample_logs/live.log sample_logs/live.log.*

# The side-by-side benchmark (see bench/bench.py and BENCHMARKS.md); not in CI.
BENCH_ARGS ?=
bench: release
	python3 bench/bench.py $(BENCH_ARGS)

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

# ARM builds with Debian's Rust 1.85 and cross linkers (installed by
# `make cross-setup`, as root): static, stripped release binaries.
CROSS_ENV := RUSTC=/usr/bin/rustc CARGO_TARGET_DIR=target/cross
CROSS_CARGO := $(CROSS_ENV) /usr/bin/cargo
AARCH64 := aarch64-unknown-linux-gnu
ARMV7 := armv7-unknown-linux-gnueabihf

cross-setup:
	bash .ci/cross-setup aarch64 armv7

cross-aarch64:
	bash .ci/cross-setup aarch64
	$(CROSS_CARGO) build --locked --release --target $(AARCH64)
	aarch64-linux-gnu-strip target/cross/$(AARCH64)/release/log-collector
	@ls -l target/cross/$(AARCH64)/release/log-collector

cross-armv7:
	bash .ci/cross-setup armv7
	$(CROSS_CARGO) build --locked --release --target $(ARMV7)
	arm-linux-gnueabihf-strip target/cross/$(ARMV7)/release/log-collector
	@ls -l target/cross/$(ARMV7)/release/log-collector

# The integration tests for both targets under qemu-user: the test binaries
# run through cargo's runner, and they start the collector through qemu too.
test-cross: cross-setup
	$(CROSS_ENV) LOG_COLLECTOR_TEST_RUNNER=qemu-aarch64-static /usr/bin/cargo test --locked --target $(AARCH64) --test it
	$(CROSS_ENV) LOG_COLLECTOR_TEST_RUNNER=qemu-arm-static /usr/bin/cargo test --locked --target $(ARMV7) --test it

# A live demonstration: the generator writes demo/app.log at 20 lines/s and
# rotates it every 60 lines (keeping 2); the collector follows it as json and
# logs each rotation it sees. Ctrl-C stops both.
demo: release
	@mkdir -p target/demo && rm -rf target/demo/state
	@echo "demo: loggen -> target/demo/app.log (rotated every 60 lines) -> log-collector --format json" >&2
	@$(RELEASE)/loggen --rate 20 --seq --rotate-every 60 --keep 2 target/demo/app.log & gen=$$!; \
	trap 'kill $$gen 2>/dev/null' EXIT INT TERM; \
	$(RELEASE)/log-collector --state-dir target/demo/state --format json target/demo/app.log

# The unit names /usr/local/bin/log-collector; it is rewritten to PREFIX.
install: release
	install -Dm755 $(RELEASE)/log-collector $(BINDIR)/log-collector
	install -Dm644 systemd/log-collector.service $(UNITDIR)/log-collector.service
	sed -i 's|/usr/local/bin/log-collector|$(PREFIX)/bin/log-collector|' \
		$(UNITDIR)/log-collector.service
	install -Dm644 man/log-collector.1 $(MANDIR)/log-collector.1
	@if [ ! -e $(CONFDIR)/log-collector.conf ]; then \
		install -Dm644 systemd/log-collector.conf $(CONFDIR)/log-collector.conf; fi

# Debian packages, built with dpkg-deb (packaging/build-deb): the binary in
# /usr/bin, the unit in /lib/systemd/system (installed, not enabled), the
# example config as a conffile. Written to target/deb/.
DEB_DIR := target/deb
deb: release
	bash packaging/build-deb $(RELEASE)/log-collector $$(dpkg --print-architecture) $(DEB_DIR)

deb-arm64: cross-aarch64
	bash packaging/build-deb target/cross/$(AARCH64)/release/log-collector arm64 $(DEB_DIR)

deb-armhf: cross-armv7
	bash packaging/build-deb target/cross/$(ARMV7)/release/log-collector armhf $(DEB_DIR)

uninstall:
	rm -f $(BINDIR)/log-collector $(UNITDIR)/log-collector.service $(MANDIR)/log-collector.1

clean:
	$(CARGO) clean
	rm -f sample_logs/live.log sample_logs/live.log.*
