#!/usr/bin/env bash
# The system packages grading and the tests need, installed by `make setup` (pip cannot install them):
#   bubblewrap  sandboxes every graded kernel (autograder/sandbox/bwrap.py); without it grading refuses unless --unsafe;
#   chromium    headless, renders the book and JupyterLab for the reader tests (tests/test_book_render.py).
# Nothing to do when both are there (every run after the first). As root it installs them; otherwise through
# `sudo -n` (never a password prompt); failing both, it stops with one line giving the command to run.
# SKIP_SYSTEM_PACKAGES=1 skips all of this; --dry-run prints the install command instead of running it.
set -euo pipefail
[ "${SKIP_SYSTEM_PACKAGES:-0}" = 1 ] && exit 0
dry=; [ "${1:-}" = --dry-run ] && dry=--dry-run
has_chromium() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }

if [ "$(uname -s)" = Darwin ]; then
  # bubblewrap is Linux only: on macOS the book and the exercises work, grading refuses without --unsafe.
  echo "system packages: sandboxed grading needs Linux (bubblewrap); skipped on macOS."
  has_chromium || [ -d /Applications/Chromium.app ] ||
    echo "system packages: optional, for the reader tests: brew install --cask chromium"
  exit 0
fi

need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
has_chromium || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0

chromium_pkg=chromium
# Ubuntu calls it chromium-browser (a snap); Debian and Fedora call it chromium
[ -r /etc/os-release ] && grep -qx 'ID=ubuntu' /etc/os-release && chromium_pkg=chromium-browser
need=("${need[@]/#chromium/$chromium_pkg}")
if command -v apt-get >/dev/null 2>&1; then
  steps=("apt-get update -q" "apt-get install -y -q ${need[*]}")
elif command -v dnf >/dev/null 2>&1; then
  steps=("dnf install -y ${need[*]}")
else
  echo "make setup: install ${need[*]} with your system's package manager, then run make setup again" \
       "(or SKIP_SYSTEM_PACKAGES=1 make setup to go on without them)" >&2
  exit 1
fi

if [ "$(id -u)" = 0 ]; then
  sudo=
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo="sudo -n "
else
  hint="sudo ${steps[0]}"; [ ${#steps[@]} -gt 1 ] && hint="$hint && sudo ${steps[1]}"
  echo "make setup: ${need[*]} missing and no root or passwordless sudo here; run: $hint" \
       "(or SKIP_SYSTEM_PACKAGES=1 make setup to go on without them)" >&2
  exit 1
fi

echo "system packages: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
for step in "${steps[@]}"; do
  if [ -n "$dry" ]; then echo "would run: $sudo$step"; else $sudo$step >/dev/null; fi
done
