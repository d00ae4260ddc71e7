# BuilderBar's two commands: `make run` and `make test`. Both first run the
# idempotent setup step, which installs whatever this machine is missing.

CARGO ?= cargo
PORT ?= 31022
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

.PHONY: setup ui-deps ui run run-vm test lint bindings check-macos check-scripts unit bundle e2e bench

setup:
	@scripts/setup.sh

ui-deps:
	@cd ui && if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
		npm ci --no-audit --no-fund; fi

## The settings window: type check, lint, unit tests, then the bundle the app embeds.
ui: setup ui-deps
	npm --prefix ui run --silent typecheck
	npm --prefix ui run --silent lint
	npm --prefix ui run --silent test
	npm --prefix ui run --silent build

## Where `make run`'s setup writes the files it would write to /etc on a Mac.
SYSROOT ?= $(HOME)/.cache/builderbar/sysroot

## Start the menu-bar app with the dev VM (Linux) or the real builder (macOS).
run: setup ui
	$(CARGO) build -p builderbar -p builderbar-app
	@if [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		echo "make run needs a desktop session (DISPLAY); 'make run-vm' boots the dev VM alone."; exit 1; fi
	@# Setup (the menu's "Set Up…") wires a sysroot folder, never this machine's /etc.
	mkdir -p $(SYSROOT)/etc/nix $(SYSROOT)/etc/ssh && touch $(SYSROOT)/etc/nix/nix.conf
	@# As macOS ships it: root's ssh reads ssh_config.d through this line.
	test -e $(SYSROOT)/etc/ssh/ssh_config || echo 'Include /etc/ssh/ssh_config.d/*' > $(SYSROOT)/etc/ssh/ssh_config
	BUILDERBAR_BIN=$(TARGET_DIR)/debug/builderbar $(TARGET_DIR)/debug/builderbar start
	BUILDERBAR_SYSROOT=$(SYSROOT) BUILDERBAR_BIN=$(TARGET_DIR)/debug/builderbar exec $(TARGET_DIR)/debug/builderbar-app --show-settings

## Boot the dev VM alone, in the foreground, and print the ssh command to log in.
run-vm: setup
	$(CARGO) run --quiet -p builderbar -- dev-runner --port $(PORT) --boot

## Formatting, lints, generated types, the macOS type-check and every test.
test: setup ui lint bindings check-macos check-scripts unit bundle e2e

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## The UI's IPC types are generated from Rust (ts-rs); they must be current.
bindings:
	$(CARGO) test --quiet -p builderbar-app --lib export_bindings
	@git diff --exit-code --stat -- ui/src/bindings || \
		{ echo "ui/src/bindings changed: commit the regenerated IPC types."; exit 1; }

check-macos:
	@scripts/check-macos.sh

## The scripts (shellcheck), the macOS workflow (actionlint), and the
## runner-guest check against the stand-in nixpkgs trees (tests/doubles):
## it must pass on the faithful one and fail on the one whose guest changes.
check-scripts: setup ui-deps
	shellcheck scripts/*.sh scripts/ci/*
	node scripts/lint-workflows.mjs
	$(CARGO) build --quiet -p builderbar
	@scripts/check-standin-guest.sh $(TARGET_DIR)/debug/builderbar

## The Linux package, built with the bundle configuration the Mac's app
## uses (the CLI inside), unpacked and checked: the app finds its CLI with
## no BUILDERBAR_BIN, and that CLI runs `builderbar status`.
bundle: setup ui
	scripts/bundle.sh --debug deb
	scripts/check-bundle.sh debug

## Every Rust test, with a real Secret Service (gnome-keyring) on a private bus.
unit:
	scripts/with-secret-service.sh $(CARGO) test --workspace

## The real app under Xvfb, driven through WebDriver and its tray over D-Bus.
e2e:
	$(CARGO) build -p builderbar -p builderbar-app
	scripts/with-secret-service.sh xvfb-run -a -s "-screen 0 1280x800x24" \
		$(CARGO) test -p builderbar-app --test e2e -- --ignored

## Benchmarks (not part of `make test`); each rewrites its section of
## docs/BENCHMARKS.md with the machine, the date and the command.
bench: setup ui
	scripts/bench-devvm-boot.py
	scripts/with-secret-service.sh scripts/bench-status.py
	scripts/bench-activation.py
	scripts/with-secret-service.sh scripts/bench-start-ready.py
	scripts/with-secret-service.sh scripts/bench-kill-to-state.py
	scripts/with-secret-service.sh scripts/bench-probe.py
	scripts/with-secret-service.sh scripts/bench-on-demand.py
	scripts/with-secret-service.sh scripts/bench-switch.py
	scripts/with-secret-service.sh xvfb-run -a -s "-screen 0 1280x800x24" scripts/bench-idle-app.py
