#!/usr/bin/env bash
# make bench: sealgate's performance figures (SPEC section 13), each a ratio
# against a baseline measured in the same run on the same machine. Each pair
# runs interleaved (A B A B ...) COUNT times, so both see the same machine;
# the figure is the median of the pairwise ratios. Raw output goes to
# bench.out (benchstat reads it).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
OUT=${OUT:-$PWD/bench.out}
: >"$OUT"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT

# run PKG BENCH [flags]: one run of one benchmark, printing its figure line.
run() {
  local pkg=$1 name=$2; shift 2
  local exe=$bin/$(echo "$pkg" | tr '/.' '__').test
  [ -x "$exe" ] || go test -c -o "$exe" "$pkg"
  (cd "$pkg" && "$exe" -test.run '^$' -test.bench "^${name}\$" -test.count 1 "$@") |
    grep -E "^${name}(-[0-9]+)?[[:space:]]" | tee -a "$OUT"
}

# figure LINE UNIT: the value reported in UNIT on a benchmark line.
figure() { awk -v unit="$2" '{ for (i = 3; i < NF; i++) if ($(i+1) == unit) { print $i; exit } }' <<<"$1"; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }; print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2 }'; }

# pair PKG A B UNIT [flags]: median of A/B over COUNT interleaved runs;
# sets ratio, a_med and b_med.
pair() {
  local pkg=$1 a=$2 b=$3 unit=$4; shift 4
  local ratios=() as=() bs=()
  for ((i = 1; i <= COUNT; i++)); do
    local la lb va vb
    la=$(run "$pkg" "$a" "$@"); lb=$(run "$pkg" "$b" "$@")
    va=$(figure "$la" "$unit"); vb=$(figure "$lb" "$unit")
    echo "  run $i: $a $va, $b $vb $unit" >&2
    as+=("$va"); bs+=("$vb")
    ratios+=("$(awk -v x="$va" -v y="$vb" 'BEGIN { printf "%.4f", x / y }')")
  done
  ratio=$(printf '%s\n' "${ratios[@]}" | median)
  a_med=$(printf '%s\n' "${as[@]}" | median)
  b_med=$(printf '%s\n' "${bs[@]}" | median)
}

verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { if (v == "nan" || v == "") print "not measured"; else if ((op == ">=" && v >= t) || (op == "<" && v < t)) print "meets target"; else print "MISSES target" }'; }

echo "== untagged pass-through vs bare go-smtp relay (msgs/s)" >&2
pair ./smtpproxy BenchmarkPassThrough BenchmarkBareRelay msgs/s -test.benchtime 2s
r1=$ratio; a1=$a_med; b1=$b_med

echo "== level-1 storage of 100 MiB vs raw go-crypto encryption (MB/s)" >&2
pair ./vault BenchmarkAddFile100MiB BenchmarkRawEncrypt100MiB MB/s
r2=$ratio; a2=$a_med; b2=$b_med

echo "== level-1 download vs net/http serving the plaintext from disk (MB/s)" >&2
pair ./linkserver BenchmarkDownloadLevel1 BenchmarkDownloadNetHTTPFile MB/s
r3=$ratio; a3=$a_med; b3=$b_med

echo "== peak RSS relaying a 1 GiB level-1 message" >&2
rss=$(figure "$(run ./smtpproxy BenchmarkLevel1Relay1GiB -test.benchtime 1x)" peak-RSS-MiB)

echo "== level-3 decryption in Chromium, 256 MiB: transfer page vs OpenPGP.js alone (MB/s)" >&2
# e2e's TestMain builds the sealgate binary unless given one: build it once.
go build -o "$bin/sealgate" ./cmd/sealgate
export SEALGATE_E2E_BINARY=$bin/sealgate
pair ./e2e BenchmarkBrowserDecryptPage BenchmarkBrowserDecryptBare MB/s -test.benchtime 1x
r4=$ratio; a4=$a_med; b4=$b_med
heap4=$(grep -E '^BenchmarkBrowserDecryptPage(-[0-9]+)?[[:space:]]' "$OUT" | while read -r l; do figure "$l" peak-heap-MiB; done | sort -g | tail -n 1)

echo "== page memory saving a 1 GiB level-3 file through the service worker" >&2
big=$(run ./e2e BenchmarkBrowserDownload1GiB -test.benchtime 1x)
bheap=$(figure "$big" peak-heap-MiB); bbuf=$(figure "$big" peak-buffers-MiB); brss=$(figure "$big" renderer-RSS-growth-MiB)
bmem=$(awk -v h="$bheap" -v b="$bbuf" -v r="$brss" 'BEGIN { if (h == "" || b == "" || r == "") print "nan"; else print (h < 200 && b < 200 && r < 400) ? 0 : 1 }')

printf '\n%-52s %10s %8s\n' "figure (median of $COUNT interleaved pairs)" "value" "target"
printf '%-52s %9.2fx %8s  %s  (%s vs %s msgs/s)\n' "untagged pass-through / bare go-smtp relay" "$r1" ">=0.9" "$(verdict "$r1" 0.9 '>=')" "$a1" "$b1"
printf '%-52s %9.2fx %8s  %s  (%s vs %s MB/s)\n' "level-1 storage / raw OpenPGP encryption (100 MiB)" "$r2" ">=0.5" "$(verdict "$r2" 0.5 '>=')" "$a2" "$b2"
printf '%-52s %9.2fx %8s  %s  (%s vs %s MB/s)\n' "level-1 download / net/http from disk" "$r3" ">=0.7" "$(verdict "$r3" 0.7 '>=')" "$a3" "$b3"
printf '%-52s %7sMiB %8s  %s\n' "peak RSS, 1 GiB level-1 message" "$rss" "<100" "$(verdict "$rss" 100 '<')"
printf '%-52s %9.2fx %8s  %s  (%s vs %s MB/s; page peak JS heap %s MiB)\n' "level-3 in-browser decryption / OpenPGP.js alone" "$r4" ">=0.5" "$(verdict "$r4" 0.5 '>=')" "$a4" "$b4" "$heap4"
printf '%-52s %7sMiB %8s  %s  (array buffers %s MiB <200, renderers +%s MiB <400)\n' "page JS heap, 1 GiB level-3 download (service worker)" "$bheap" "<200" "$(verdict "$bmem" 1 '<')" "$bbuf" "$brss"
echo "(raw benchmark lines in $OUT)"
