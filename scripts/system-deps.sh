#!/usr/bin/env bash
# Installs the Debian packages Agent Queue's tests and window need, when they are missing.
# Runs as root with apt-get (CI and fresh machines); elsewhere it only says what is missing.
set -euo pipefail

packages=(
  libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0  # Qt, offscreen or on screen
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0        # Qt on an X server
  xvfb xauth                                                             # a virtual screen for screenshots
  desktop-file-utils                                                     # desktop-file-validate
  postgresql                                                             # PostgreSQL tests (postgres-test-cluster.sh)
  git                                                                    # repositories and worktrees of coding tasks
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "note: these Debian packages are missing; install them if Qt fails to start, or to run the PostgreSQL tests: ${missing[*]}" >&2
fi
