#!/bin/sh
# Hostile schemas and documents come back quickly through the sqlite3 CLI:
# each statement below is one CLI run (start and .load included) that must
# end within BOUND_MS with the expected error.  Before the bounds of
# core/schema_limits.c the fan-outs ran for minutes; `timeout` keeps a
# regression from hanging the suite.
set -u
db=limits.db
BOUND_MS=1000
# check NAME 'CONDITION': CONDITION is one shell expression (it may use
# && and ||), evaluated whole.
check() {
  if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fi
}
# has TEXT: the last output holds TEXT (the CLI adds its own "Error: ...").
has() {
  case "$out" in *"$1"*) true ;; *) false ;; esac
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# timed SQL...: run the statements in one CLI, output in $out, time in $ms.
timed() {
  t0=$(now_ms)
  out=$(timeout 20 $SQLITE3 -batch "$db" ".load $EXT" "$@" 2>&1)
  ms=$(($(now_ms) - t0))
}

# JSON Schema text: definitions d0..dN, each d<i> applying d<i-1> twice.
fanout() {
  n=$1
  printf '{"definitions":{"d0":{"type":"integer"}'
  i=1
  while [ "$i" -le "$n" ]; do
    printf ',"d%d":{"allOf":[{"$ref":"#/definitions/d%d"},{"$ref":"#/definitions/d%d"}]}' \
      "$i" $((i - 1)) $((i - 1))
    i=$((i + 1))
  done
  printf '},"$ref":"#/definitions/d%d"}' "$n"
}
too_complex='schema too complex: /definitions/d15: expands to more than 100000 subschemas through $ref and applicators (limit 100000)'
too_costly='validation too costly: more than 2000000 steps (limit 2000000)'

$SQLITE3 -batch "$db" ".load $EXT" "SELECT threads_create('notes');" >/dev/null 2>&1

for n in 26 40; do
  timed "CREATE VIRTUAL TABLE fan$n USING threads(thread='notes', schema='$(fanout $n)');"
  check "create_fanout_2^${n}_refused" 'has "$too_complex"'
  check "create_fanout_2^${n}_quick" '[ "$ms" -lt "$BOUND_MS" ]'
  timed "SELECT threads_schema_valid('$(fanout $n)', '1');"
  check "schema_valid_fanout_2^${n}_refused" \
    'has "threads_schema_valid: $too_complex"'
  check "schema_valid_fanout_2^${n}_quick" '[ "$ms" -lt "$BOUND_MS" ]'
done
check no_table_created \
  '[ "$($SQLITE3 -batch "$db" ".load $EXT" "SELECT count(*) FROM sqlite_schema WHERE name LIKE '\''fan%'\'';")" = 0 ]'

# Documents whose check runs out of steps, on a table that accepts others.
$SQLITE3 -batch "$db" ".load $EXT" "CREATE VIRTUAL TABLE person USING threads(thread='notes', schema='{\"type\":\"object\",\"properties\":{\"_id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\",\"pattern\":\"^(a+)+\$\"},\"tree\":{\"\$ref\":\"#/definitions/t\"}},\"definitions\":{\"t\":{\"type\":\"array\",\"items\":{\"allOf\":[{\"\$ref\":\"#/definitions/t\"},{\"\$ref\":\"#/definitions/t\"}]}}}}');" >/dev/null 2>&1
timed "INSERT INTO person(_id, name) VALUES ('p1', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!');"
check insert_catastrophic_pattern_refused \
  'has "person: document p1 violates the schema: /name: pattern: $too_costly"'
check insert_catastrophic_pattern_quick '[ "$ms" -lt "$BOUND_MS" ]'
deep=$(printf '%60s' '' | tr ' ' '[')$(printf '%60s' '' | tr ' ' ']')
timed "INSERT INTO person(_doc) VALUES ('{\"_id\":\"p2\",\"tree\":$deep}');"
check insert_doubling_recursion_refused \
  'has "person: document p2 violates the schema: /tree/0/0/" && has ": $too_costly"'
check insert_doubling_recursion_quick '[ "$ms" -lt "$BOUND_MS" ]'
timed "INSERT INTO person(_doc) VALUES ('{\"_id\":\"p3\",\"name\":\"aaa\",\"tree\":[[],[[]]]}');" "SELECT _id FROM person;"
check ordinary_document_accepted '[ "$out" = p3 ]'
