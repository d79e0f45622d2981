#!/bin/sh
# test/fuzz/run.sh: build and run the libFuzzer targets of core/.
#
#   sh test/fuzz/run.sh [TARGET...]     (from any directory)
#
#   FUZZ_SECONDS   seconds per target (default 30)
#
# Targets: fuzz_cbor fuzz_multibase fuzz_record fuzz_car fuzz_body
# (default: all).
# Binaries, corpora and crash artifacts go under build/fuzz/:
#
#   build/fuzz/bin/fuzz_<name>          the target (clang, ASan+UBSan)
#   build/fuzz/seeds/<name>/            seeds, rewritten on every run
#   build/fuzz/corpus/<name>/           corpus libFuzzer grows (kept)
#   build/fuzz/artifacts/<name>/        crash-*, leak-*, timeout-* inputs
#   build/fuzz/log/fuzz_<name>.log      the full output of the last run
#
# Prints "PASS fuzz_<name>" or "FAIL fuzz_<name>" per target (a FAIL shows
# the last 30 lines of its output), and exits 1 if any failed, 2 if clang
# is missing.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT="$ROOT/build/fuzz"
SECS=${FUZZ_SECONDS:-30}
ALL="cbor multibase record car body"
CC=${FUZZ_CC:-clang}

if ! command -v "$CC" >/dev/null 2>&1; then
  echo "run.sh: $CC not found; the fuzz targets need clang with libFuzzer" \
    "(apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi

case "$SECS" in
  ''|*[!0-9]*) echo "run.sh: FUZZ_SECONDS must be a whole number" >&2; exit 2 ;;
esac

if [ $# -gt 0 ]; then
  TARGETS=""
  for t in "$@"; do
    TARGETS="$TARGETS ${t#fuzz_}"
  done
else
  TARGETS=$ALL
fi

mkdir -p "$OUT/bin" "$OUT/seeds" "$OUT/corpus" "$OUT/artifacts" "$OUT/log"

CORE_SRC=$(ls "$ROOT"/core/*.c)
LIBS="-lsqlite3 -lsodium -lcrypto -lcbor -ljansson -lpcre2-8 -lm"
# UBSan findings abort instead of being printed and skipped.
FUZZ_CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -DSQLITE_CORE -I$ROOT/core"

fail=0

# The seed writer: plain build, no libFuzzer main.
echo "building seed writer"
# shellcheck disable=SC2086
if ! "$CC" -g -O1 -DSQLITE_CORE -I"$ROOT/core" "$ROOT/test/fuzz/seeds.c" \
    $CORE_SRC $LIBS -o "$OUT/bin/seeds" >"$OUT/log/seeds.log" 2>&1; then
  tail -n 30 "$OUT/log/seeds.log"
  echo "FAIL seeds (build)"
  exit 1
fi
rm -rf "$OUT/seeds"
if ! "$OUT/bin/seeds" "$OUT/seeds"; then
  echo "FAIL seeds (run)"
  exit 1
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"

for t in $TARGETS; do
  name="fuzz_$t"
  src="$ROOT/test/fuzz/$name.c"
  bin="$OUT/bin/$name"
  log="$OUT/log/$name.log"
  if [ ! -f "$src" ]; then
    echo "run.sh: no target $name" >&2
    echo "FAIL $name"
    fail=1
    continue
  fi

  echo "building $name"
  # shellcheck disable=SC2086
  if ! "$CC" $FUZZ_CFLAGS "$src" $CORE_SRC $LIBS -o "$bin" >"$log" 2>&1; then
    tail -n 30 "$log"
    echo "FAIL $name (build)"
    fail=1
    continue
  fi

  mkdir -p "$OUT/corpus/$t" "$OUT/seeds/$t" "$OUT/artifacts/$t"
  # The first directory receives new inputs; the seeds are read only.
  "$bin" -max_len=4096 -max_total_time="$SECS" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$OUT/artifacts/$t/" \
    "$OUT/corpus/$t" "$OUT/seeds/$t" >>"$log" 2>&1
  rc=$?

  # A run passes only if libFuzzer finished cleanly and no sanitizer spoke.
  if [ $rc -ne 0 ] ||
     grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: (Address|Leak|Undefined)' "$log" ||
     ! grep -q 'Done [0-9]* runs' "$log"; then
    echo "---- $name: last 30 lines of $log (exit $rc)"
    tail -n 30 "$log"
    echo "FAIL $name"
    fail=1
  else
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
    echo "$name: ${runs:-?} runs, ${eps:-?} exec/s, $cov"
    echo "PASS $name"
  fi
done

[ $fail -eq 0 ] || exit 1
exit 0
