#!/bin/sh
# threads_export writes only a new regular file: a path that names anything
# (a file, a symlink, even a dangling one, a FIFO, a device node, the open
# database, a directory) is refused with "<path> already exists", the thing
# is left as it was and no temporary file stays behind.  threads_verify_car
# reads only regular files: a FIFO or a device is refused, not waited on.
#
# Every call runs under timeout(1), so that a FIFO opened without care
# fails the test instead of hanging it.  The test makes its own directory,
# so that it can also be run by hand from the repository.
set -u
work=$(mktemp -d "${TMPDIR:-/tmp}/threads-export.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
umask 022
db=exp.db
q() { timeout 30 $SQLITE3 -batch "$db" ".load $EXT" "$@" 2>&1; }
# check NAME 'CONDITION': CONDITION is one shell expression (it may use
# && and ||), evaluated whole.
check() {
  if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; fi
}
# The directory's entries, hidden ones included: compared before and after
# a call, they show a temporary file left behind (or anything created).
# The database's -wal and -shm files are left out: the sqlite3 CLI (3.40)
# exits without closing the database after a runtime error in an argument,
# so that they stay after any failed call, of ours or of SQLite's own.
entries() {
  ls -A "${1:-.}" | grep -v -e '^exp\.db-wal$' -e '^exp\.db-shm$' |
    LC_ALL=C sort | tr '\n' ' '
}
# refused NAME PATH [THREAD]: threads_export(THREAD, PATH) fails, naming
# PATH, and creates nothing in the directory.  (Inside check, $2 is the
# condition, so the path travels in a variable.)
refused() {
  path=$2
  before=$(entries)
  out=$(q "SELECT threads_export('${3:-a}', '$path');")
  after=$(entries)
  check "$1_refused" 'case "$out" in *"threads_export: $path already exists"*) true ;; *) false ;; esac'
  check "$1_nothing_left" '[ "$before" = "$after" ]'
  [ "$before" = "$after" ] || printf '  before: %s\n  after:  %s\n' "$before" "$after"
}

q "SELECT threads_create('a');" >/dev/null
q "SELECT threads_create('b');" >/dev/null

# A new path: a regular file, created with mode 0644 less the umask, that
# the project's reader verifies.
before=$(entries)
n=$(q "SELECT threads_export('a', 'new.car');")
check export_new_blocks '[ "$n" = 4 ]'
check export_new_regular '[ -f new.car ] && [ ! -L new.car ]'
check export_new_mode '[ "$(stat -c %a new.car)" = 644 ]'
check export_new_only_file '[ "$(entries)" = "${before}new.car " ]'
check export_new_verifies '[ "$(q "SELECT threads_verify_car('"'a'"', '"'new.car'"');")" = 1 ]'

# An existing regular file keeps its bytes, the earlier export among them
# (asked to take another thread's blocks).
printf 'precious\n' >reg
cp reg reg.orig
cp new.car new.car.orig
refused export_regular reg
check export_regular_untouched 'cmp -s reg reg.orig'
refused export_again new.car b
check export_again_untouched 'cmp -s new.car new.car.orig'

# A symlink to a file: the link and its target stay.
printf 'target\n' >tgt
cp tgt tgt.orig
ln -s tgt link
refused export_symlink link
check export_symlink_untouched '[ -L link ] && [ "$(readlink link)" = tgt ] && cmp -s tgt tgt.orig'

# A dangling symlink counts as existing: it is not followed to create its
# target.
ln -s nowhere dangle
refused export_dangling dangle
check export_dangling_untouched '[ -L dangle ] && [ "$(readlink dangle)" = nowhere ] && [ ! -e nowhere ] && [ ! -L nowhere ]'

# A FIFO: the reader does not wait for a writer (timeout(1) fails a call
# that blocks), and the export is refused.
mkfifo fifo
out=$(q "SELECT threads_verify_car('a', 'fifo');")
check verify_car_fifo_refused 'case "$out" in *"threads_verify_car: cannot read fifo: not a regular file"*) true ;; *) false ;; esac'
refused export_fifo fifo
check export_fifo_untouched '[ -p fifo ]'

# A character device, a twin of /dev/null made in this directory (root
# only).
if mknod dev c 1 3 2>/dev/null; then
  out=$(q "SELECT threads_verify_car('a', 'dev');")
  check verify_car_device_refused 'case "$out" in *"threads_verify_car: cannot read dev: not a regular file"*) true ;; *) false ;; esac'
  refused export_device dev
  check export_device_untouched '[ -c dev ] && [ "$(stat -c %t:%T dev)" = 1:3 ]'
else
  echo "SKIP export_device: mknod not permitted"
fi

# The open database file itself: refused, and the database still holds its
# thread.
cp "$db" db.orig
refused export_database "$db"
check export_database_untouched 'cmp -s "$db" db.orig && [ "$(q "SELECT threads_verify('"'a'"');")" = 1 ]'
refused export_database_absolute "$work/$db"
check export_database_absolute_untouched 'cmp -s "$db" db.orig'

# A directory, by its name and as ".": left empty and in place.
mkdir d
refused export_directory d
check export_directory_untouched '[ -d d ] && [ -z "$(entries d)" ]'
refused export_dot .

# A symlink already at a name the old writer used for its temporary file
# ("<path>.tmp") is not followed: its target keeps its bytes, and the
# export still lands at the path as a regular file.
printf 'victim\n' >victim
cp victim victim.orig
ln -s victim x.car.tmp
n=$(q "SELECT threads_export('a', 'x.car');")
check export_tmp_symlink_ignored '[ "$n" = 4 ] && [ -f x.car ] && [ ! -L x.car ] && cmp -s victim victim.orig && [ -L x.car.tmp ]'

# Reading a regular file through a symlink is still allowed.
ln -s new.car via.car
check verify_car_via_symlink '[ "$(q "SELECT threads_verify_car('"'a'"', '"'via.car'"');")" = 1 ]'
# A directory is not read either.
out=$(q "SELECT threads_verify_car('a', 'd');")
check verify_car_directory_refused 'case "$out" in *"threads_verify_car: cannot read d: not a regular file"*) true ;; *) false ;; esac'
