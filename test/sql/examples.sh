#!/bin/sh
# The examples run: the C app linked with the static library, and the
# Python app loading the extension, on the same file.
set -u
# check NAME 'CONDITION': CONDITION is one shell expression (it may use
# && and ||), evaluated whole.
check() {
  if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fi
}
APP="$OBJ/examples/app"
c1=$("$APP" ex.db 2>&1)
c2=$("$APP" ex.db 2>&1)
peer=$(printf '%s\n' "$c1" | sed -n 's/^peer=//p')
check c_app_creates_and_verifies '[ "$(printf '\''%s\n'\'' "$c1" | tail -1)" = "name=notes records=1 verified=1" ]'
check c_app_same_identity_on_reopen '[ -n "$peer" ] && [ "$(printf '\''%s\n'\'' "$c2" | head -1)" = "peer=$peer" ]'
py=$($PYTHON3 "$ROOT/examples/app.py" ex.db "$EXT" 2>&1)
# Python: the collection definition and one insert are two more records.
want=$(printf 'peer %s\nrefused: todo: document %s violates the schema: : required: missing property "text"\ntodo items 1\nthread notes: 3 records, 3 verified' "$peer" "X")
# The refused document got a fresh ULID: compare with it masked.
pym=$(printf '%s\n' "$py" | sed -E 's/document [0-9A-Z]{26} /document X /')
check python_app_reads_same_file '[ "$pym" = "$want" ]'
