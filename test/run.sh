#!/bin/sh
# test/run.sh VARIANT DIST OBJDIR: run every test of one build variant.
#
#   unit   $OBJDIR/test/test_*      C binaries; each prints PASS/FAIL lines
#   sql    test/sql/*.sql           through the real sqlite3 CLI; output
#                                   (stdout and stderr) diffed against
#                                   test/sql/*.expected
#   shell  test/sql/*.sh            multi-invocation scenarios; each prints
#                                   PASS/FAIL lines
#
# The last line is "N passed, N failed"; the exit status is 0 only when
# nothing failed.
set -u
VARIANT=$1
DIST=$2
OBJ=$(cd "$3" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EXT="$ROOT/$DIST/threads"

# Sanitized builds of the extension need the sanitizer runtime in the
# (uninstrumented) sqlite3 CLI; unit binaries link it themselves.
PRELOAD=""
RUNNER=""
case "$VARIANT" in
  asan) PRELOAD=$(gcc -print-file-name=libasan.so)
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ;;
  ubsan) PRELOAD=$(gcc -print-file-name=libubsan.so)
        export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ;;
  tsan) PRELOAD=$(gcc -print-file-name=libtsan.so)
        export TSAN_OPTIONS=halt_on_error=1 ;;
  valgrind) RUNNER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" ;;
esac
# Debian's python3 loads the extension too; under ASan its own allocations
# at exit are not ours to report.
if [ -n "$PRELOAD" ]; then
  SQLITE3="env LD_PRELOAD=$PRELOAD sqlite3"
  PYTHON3="env LD_PRELOAD=$PRELOAD ASAN_OPTIONS=detect_leaks=0 /usr/bin/python3"
else
  SQLITE3="sqlite3"
  PYTHON3="/usr/bin/python3"
fi
export EXT SQLITE3 PYTHON3 ROOT OBJ

pass=0
fail=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/threads-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# Count PASS/FAIL lines of one test program's output; a program that
# fails without saying which case failed counts as one failure.
count() {
  name=$1
  out=$2
  status=$3
  p=$(printf '%s\n' "$out" | grep -c '^PASS ')
  f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
  printf '%s\n' "$out" | grep -E '^(FAIL|SKIP) ' || true
  # A sanitizer report anywhere in the output (a peer process's stderr
  # included) fails the group, even when every check passed.
  if printf '%s\n' "$out" | grep -qE 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error:'; then
    echo "FAIL $name: sanitizer report"
    printf '%s\n' "$out" | grep -E -A12 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error:' | head -60
    f=$((f + 1))
  fi
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL $name: exit status $status"
    printf '%s\n' "$out" | tail -20
    f=1
  fi
  echo "$name: $p passed, $f failed"
  pass=$((pass + p))
  fail=$((fail + f))
}

echo "== unit tests ($VARIANT)"
for t in "$OBJ"/test/test_*; do
  [ -x "$t" ] || continue
  dir="$TMP/$(basename "$t")"
  mkdir -p "$dir"
  out=$(cd "$dir" && $RUNNER "$t" 2>&1)
  count "$(basename "$t")" "$out" $?
done

# Random identifiers in CLI output become placeholders, so that golden
# files hold only what a test can predict.
normalize() {
  sed -E -e 's/12D3KooW[1-9A-HJ-NP-Za-km-z]{44}/<peer>/g' \
         -e 's/bafyrei[a-z2-7]{52}/<cid>/g' \
         -e 's/bafk[a-z2-7]{52}/<thread>/g'
}

echo "== sql golden tests"
for f in "$ROOT"/test/sql/*.sql; do
  name=$(basename "$f" .sql)
  dir="$TMP/sql-$name"
  mkdir -p "$dir"
  (cd "$dir" && { echo ".load $EXT"; cat "$f"; } | $SQLITE3 test.db 2>&1) \
    | normalize > "$dir/out"
  if diff -u "$ROOT/test/sql/$name.expected" "$dir/out" > "$dir/diff"; then
    pass=$((pass + 1))
    echo "PASS sql/$name"
  else
    fail=$((fail + 1))
    echo "FAIL sql/$name"
    cat "$dir/diff"
  fi
done

echo "== shell tests"
for f in "$ROOT"/test/sql/*.sh; do
  [ -f "$f" ] || continue
  name=$(basename "$f" .sh)
  dir="$TMP/sh-$name"
  mkdir -p "$dir"
  out=$(cd "$dir" && sh "$f" 2>&1)
  count "sh/$name" "$out" $?
done

# A short libFuzzer pass over every decoder of peer or file bytes on the
# plain build (the fuzz targets carry their own ASan+UBSan); `make fuzz`
# runs longer.
echo "== network tests (real processes on loopback)"
for f in "$ROOT"/test/net/test_*.py; do
  [ -f "$f" ] || continue
  name=$(basename "$f" .py)
  dir="$TMP/net-$name"
  mkdir -p "$dir"
  out=$(cd "$dir" && timeout 300 $PYTHON3 "$f" 2>&1)
  count "net/$name" "$out" $?
done

if [ "$VARIANT" = release ]; then
  echo "== fuzz smoke (${FUZZ_SECONDS:=10} s per target)"
  out=$(FUZZ_SECONDS=$FUZZ_SECONDS sh "$ROOT/test/fuzz/run.sh" 2>&1)
  count fuzz "$out" $?
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
