#!/usr/bin/env bash
# Renders a report.html in headless Chromium and saves a PNG, to look at what people will see.
# usage: scripts/screenshot-report.sh [REPORT_HTML] [OUT_PNG]
#   default: target/windtunnel/latest/report.html -> target/windtunnel/report.png
set -euo pipefail
html=${1:-target/windtunnel/latest/report.html}
png=${2:-target/windtunnel/report.png}
chromium=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z $chromium ]]; then
  echo "screenshot-report: skipped, no Chromium found (Debian: apt-get install chromium)" >&2
  exit 0
fi
if [[ ! -f $html ]]; then
  echo "screenshot-report: no report at $html (run \`cargo test --test load\` first)" >&2
  exit 2
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# The flags keep Chromium off the network (the report needs none) and quiet.
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1300,2600 \
  --screenshot="$(realpath -m "$png")" "file://$(realpath "$html")" 2>/dev/null
echo "screenshot-report: $png"
