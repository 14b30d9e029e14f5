#!/usr/bin/env bash
# Runs the default (fast) test suite. `scripts/test.sh slow` runs the long tests too.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
export QT_QPA_PLATFORM=offscreen
label="${1:-fast}"
if [ "$label" = slow ]; then
    ctest --test-dir build --output-on-failure -j1
else
    ctest --test-dir build --output-on-failure -j1 -L "$label"
fi
