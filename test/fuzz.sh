#!/usr/bin/env bash
# Runs every Fuzz* target of every package for FUZZTIME each (make fuzz).
# A target fails only when go test writes a new reproducer under
# testdata/fuzz: a bare "context deadline exceeded" at the -fuzztime
# boundary with no reproducer is Go's fuzz-coordinator race
# (go.dev/issue/75804, fixed in Go 1.27), counted as a flake. Prints a
# summary line per target and exits non-zero if any target failed.
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
passed=0 failed=0 flaked=0
failures=()
snapshot() { find . -path '*/testdata/fuzz/*' -type f 2>/dev/null | sort; }
for pkg in $(go list ./...); do
  for f in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz'); do
    before=$(snapshot)
    start=$(date +%s)
    out=$(go test -run '^$' -fuzz "^$f\$" -fuzztime "$fuzztime" "$pkg" 2>&1)
    rc=$?
    took=$(( $(date +%s) - start ))
    execs=$(printf '%s\n' "$out" | grep -o 'execs: [0-9]*' | tail -1 | awk '{print $2}')
    new=$(comm -13 <(printf '%s\n' "$before") <(snapshot))
    if [ $rc -eq 0 ]; then
      passed=$((passed+1)); echo "ok     $pkg $f ${took}s ${execs:-0} execs"
    elif [ -n "$new" ]; then
      failed=$((failed+1)); failures+=("$pkg $f: $new")
      echo "FAIL   $pkg $f ${took}s: reproducer $new"; printf '%s\n' "$out" | tail -20
    else
      flaked=$((flaked+1)); echo "flake  $pkg $f ${took}s ${execs:-0} execs (no reproducer: $(printf '%s\n' "$out" | grep -m1 -E 'deadline|FAIL' ))"
    fi
  done
done
echo "fuzz: $passed passed, $failed failed, $flaked flaked (fuzztime $fuzztime each)"
for x in "${failures[@]}"; do echo "  failed: $x"; done
[ $failed -eq 0 ]
