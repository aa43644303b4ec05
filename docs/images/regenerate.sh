#!/usr/bin/env bash
# Regenerates the README's pictures: docs/images/aha-plot.png (`aha plot`) and
# docs/images/report.png (the top of the HTML report of a planted bug, screenshot by
# headless Chromium). Run from anywhere with the venv active: bash docs/images/regenerate.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
aha plot --out docs/images/aha-plot.png
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
aha conform --adapter aha.conformance.mutants:window_off_by_one --case 'local/causal*' \
    --no-properties --failures-dir "$work/failures" --report "$work/report.html" >/dev/null || status=$?
[ "$status" -eq 1 ] || { echo "expected the planted bug to fail (exit 1), got $status" >&2; exit 1; }
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/profile" \
    --window-size=1000,1640 --screenshot="$work/full.png" "file://$work/report.html" 2>/dev/null
python - "$work/full.png" docs/images/report.png <<'PY'
import sys
from PIL import Image

Image.open(sys.argv[1]).crop((0, 0, 1000, 1640)).save(sys.argv[2], optimize=True)
PY
echo "wrote docs/images/aha-plot.png and docs/images/report.png"
