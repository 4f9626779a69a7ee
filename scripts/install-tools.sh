#!/usr/bin/env bash
# Installs the linters tests/test_workflows.py runs on .github/workflows/:
# - actionlint, pinned below, built from the Go module proxy into .tools/bin (needs Go 1.25 or newer,
#   or an older Go that may fetch a newer toolchain: GOTOOLCHAIN=auto, Go's default);
# - ShellCheck, which actionlint runs on every `run:` script, from the system (the Debian/Ubuntu package
#   `shellcheck`, installed with apt-get when missing and this runs as root or with password-less sudo).
# Idempotent: a tool that is already there (actionlint at the pinned version) is left alone, so `make`
# and CI can run it every time. TOOLS_BIN overrides the install directory (the tests use it).
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12
ACTIONLINT_PACKAGE=github.com/rhysd/actionlint/cmd/actionlint

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools_bin="${TOOLS_BIN:-$root/.tools/bin}"

fail() {
  echo "install-tools: $*" >&2
  exit 1
}

# The first line of `actionlint -version` is the version, e.g. v1.7.12; empty when not installed.
actionlint_version() {
  if [ -x "$tools_bin/actionlint" ]; then
    "$tools_bin/actionlint" -version 2>/dev/null | sed -n 1p
  fi
}

install_actionlint() {
  if [ "$(actionlint_version)" = "$ACTIONLINT_VERSION" ]; then
    echo "actionlint $ACTIONLINT_VERSION: already in $tools_bin"
    return
  fi
  command -v go >/dev/null 2>&1 ||
    fail "actionlint $ACTIONLINT_VERSION is built with Go: install Go 1.25 or newer (https://go.dev/dl/ or your package manager) and run scripts/install-tools.sh again"
  echo "actionlint $ACTIONLINT_VERSION: go install into $tools_bin"
  mkdir -p "$tools_bin"
  GOBIN="$tools_bin" go install "$ACTIONLINT_PACKAGE@$ACTIONLINT_VERSION" ||
    fail "go install $ACTIONLINT_PACKAGE@$ACTIONLINT_VERSION failed (see above): it needs the Go module proxy (GOPROXY) or a module cache that has it"
  local installed
  installed="$(actionlint_version)"
  [ "$installed" = "$ACTIONLINT_VERSION" ] ||
    fail "$tools_bin/actionlint reports version '${installed}', expected $ACTIONLINT_VERSION"
}

apt_install_shellcheck() {
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || return 1
    sudo=(sudo -n)
  fi
  echo "shellcheck: apt-get install shellcheck"
  "${sudo[@]}" apt-get install -y --no-install-recommends shellcheck ||
    { "${sudo[@]}" apt-get update && "${sudo[@]}" apt-get install -y --no-install-recommends shellcheck; }
}

install_shellcheck() {
  if ! command -v shellcheck >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
      apt_install_shellcheck || true
    fi
    command -v shellcheck >/dev/null 2>&1 ||
      fail "shellcheck is missing: install it (Debian/Ubuntu: sudo apt-get install shellcheck; macOS: brew install shellcheck) and run scripts/install-tools.sh again"
  fi
  echo "shellcheck: $(command -v shellcheck) ($(shellcheck --version | sed -n 's/^version: //p'))"
}

install_actionlint
install_shellcheck
