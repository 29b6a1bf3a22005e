#!/usr/bin/env bash
# Render a DSE report.html in headless Chromium and save what a reader sees as a PNG.
#   tools/check_report_html.sh REPORT_DIR [WIDTH]   -> REPORT_DIR/report-screenshot.png
# Needs Chromium (Debian: apt-get install chromium). Look at the PNG: plots present, labels
# readable, nothing clipped, tables complete.
set -euo pipefail
dir=${1:?usage: tools/check_report_html.sh REPORT_DIR [WIDTH]}
width=${2:-1200}
page="$(cd "$dir" && pwd)/report.html"
[ -f "$page" ] || { echo "no report.html in $dir" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "no Chromium found (apt-get install chromium)" >&2; exit 2; }
profile=$(mktemp -d); trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size="$width,4000" \
  --screenshot="$dir/report-screenshot.png" "file://$page" >/dev/null 2>&1
echo "$dir/report-screenshot.png"
