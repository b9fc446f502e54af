#!/usr/bin/env bash
# make bench: sealgate's performance figures (SPEC section 13), each a ratio
# against a baseline measured in the same run on the same machine. Medians of
# COUNT runs; raw output goes to bench.out for benchstat.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
OUT=${OUT:-bench.out}
: >"$OUT"

bench() { # pkg regexp [extra go test flags...]
  local pkg=$1 re=$2; shift 2
  go test -run '^$' -bench "$re" -count "$COUNT" "$@" "$pkg" | tee -a "$OUT" | grep -E '^Benchmark' >&2 || true
}

# median NAME UNIT: the median of the figure reported in UNIT by benchmark NAME.
median() {
  awk -v name="$1" -v unit="$2" '
    $1 ~ "^"name"(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i+1) == unit) print $i }' "$OUT" |
    sort -g | awk '{ v[NR] = $1 } END {
      if (NR == 0) { print "nan"; exit }
      print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "nan"; else printf "%.2f", a / b }'; }

# ns/op -> per-second rates are compared as baseline_ns / ours_ns.
echo "== untagged pass-through vs bare go-smtp relay" >&2
bench ./smtpproxy '^(BenchmarkPassThrough|BenchmarkBareRelay)$' -benchtime 3s
pt=$(median BenchmarkPassThrough msgs/s); bare=$(median BenchmarkBareRelay msgs/s)

echo "== level-1 storage of 100 MiB vs raw go-crypto encryption" >&2
bench ./vault '^(BenchmarkAddFile100MiB|BenchmarkRawEncrypt100MiB)$'
store=$(median BenchmarkAddFile100MiB MB/s); raw=$(median BenchmarkRawEncrypt100MiB MB/s)

echo "== level-1 download vs net/http serving the plaintext from disk" >&2
bench ./linkserver '^(BenchmarkDownloadLevel1|BenchmarkDownloadNetHTTPFile)$'
dl=$(median BenchmarkDownloadLevel1 MB/s); srv=$(median BenchmarkDownloadNetHTTPFile MB/s)

echo "== peak RSS relaying a 1 GiB level-1 message" >&2
COUNT=1 bench ./smtpproxy '^BenchmarkLevel1Relay1GiB$' -benchtime 1x
rss=$(median BenchmarkLevel1Relay1GiB peak-RSS-MiB)

verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { if (v == "nan") print "not measured"; else if ((op == ">=" && v >= t) || (op == "<" && v < t)) print "meets target"; else print "MISSES target" }'; }
r1=$(ratio "$pt" "$bare"); r2=$(ratio "$store" "$raw"); r3=$(ratio "$dl" "$srv")
printf '\n%-52s %10s %8s  %s\n' "figure" "value" "target" "" 
printf '%-52s %9sx %8s  %s  (%s vs %s msgs/s)\n' "untagged pass-through / bare go-smtp relay" "$r1" ">=0.9" "$(verdict "$r1" 0.9 '>=')" "$pt" "$bare"
printf '%-52s %9sx %8s  %s  (%s vs %s MB/s)\n' "level-1 storage / raw OpenPGP encryption (100 MiB)" "$r2" ">=0.5" "$(verdict "$r2" 0.5 '>=')" "$store" "$raw"
printf '%-52s %9sx %8s  %s  (%s vs %s MB/s)\n' "level-1 download / net/http from disk" "$r3" ">=0.7" "$(verdict "$r3" 0.7 '>=')" "$dl" "$srv"
printf '%-52s %8sMiB %8s  %s\n' "peak RSS, 1 GiB level-1 message" "$rss" "<100" "$(verdict "$rss" 100 '<')"
echo "(raw figures in $OUT)"
