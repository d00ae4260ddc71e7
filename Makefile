# BuilderBar's two commands: `make run` and `make test`. Both first run the
# idempotent setup step, which installs whatever this machine is missing.

CARGO ?= cargo
PORT ?= 31022

.PHONY: setup run test lint check-macos unit bench

setup:
	@scripts/setup.sh

## Boot the dev VM in the foreground and print the ssh command to log in.
run: setup
	$(CARGO) run --quiet -- dev-runner --port $(PORT) --boot

## Formatting, lints, the macOS type-check and every test.
test: setup lint check-macos unit

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

check-macos:
	@scripts/check-macos.sh

## Every test, with a real Secret Service (gnome-keyring) for the keychain tests.
unit:
	scripts/with-secret-service.sh $(CARGO) test --workspace

## Benchmarks (not part of `make test`); numbers go to docs/BENCHMARKS.md.
bench: setup
	scripts/bench-devvm-boot.py
