#!/usr/bin/env bash
# Regenerates docs/screenshots/ from the browser test suite (e2e TestBrowser):
# the key screens as recipients see them, at 1280 and 360 px wide.
# Needs what the browser tests need: Chromium and `npm ci` (axe-core).
set -euo pipefail
cd "$(dirname "$0")/.."

out=docs/screenshots
# The screens the README shows; the tests name each file page-lang-width.png
# (TestBrowserJourney names its states journey-<state>.png, in English at
# 1280 px: "made:kept" renames one).
keep=(
  transfer-l1-de-1280 transfer-l1-de-360
  transfer-l2-signin-de-1280 transfer-l2-signin-de-360
  signin-code-de-360 transfer-l2-en-1280
  home-de-1280 home-de-360
  withdrawn-de-360
  upload-de-1280 upload-de-360
  journey-choose-a-passphrase:keysetup-en-1280
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  SEALGATE_REQUIRE_PEERS=1 SEALGATE_SCREENSHOTS="$tmp" \
    go test -count=1 -run 'TestBrowser$/(pages|signin)/' ./e2e/ &&
  SEALGATE_REQUIRE_PEERS=1 SEALGATE_SCREENSHOTS="$tmp" \
    go test -count=1 -run '^(TestBrowserUpload|TestBrowserJourney)$' ./e2e/
} >"$tmp/test.log" 2>&1 || {
  cat "$tmp/test.log" >&2
  echo "screenshots: the browser suite failed; $out left unchanged" >&2
  exit 1
}

mkdir -p "$out"
rm -f "$out"/*.png
for entry in "${keep[@]}"; do
  made=${entry%%:*} kept=${entry##*:}
  if [ ! -f "$tmp/$made.png" ]; then
    echo "screenshots: the suite made no $made.png" >&2
    exit 1
  fi
  cp "$tmp/$made.png" "$out/$kept.png"
done
total=$(du -cb "$out"/*.png | tail -1 | cut -f1)
echo "screenshots: $(ls "$out"/*.png | wc -l) files, $((total / 1024)) KiB in $out"
if [ "$total" -gt $((1024 * 1024)) ]; then
  echo "screenshots: more than 1 MiB; keep fewer screens" >&2
  exit 1
fi
