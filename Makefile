# sqlite-threads: Textile Threads as a SQLite loadable extension.
#
#   make            dist/threads.so (the extension) and dist/libthreads.a
#   make demo       install what is missing, build, run the demo session
#   make test       install what is missing, build, run every test
#   make bench      benchmarks beside their baselines (plain SQLite, libsodium,
#                   OpenSSL)
#   make asan | ubsan | tsan | valgrind   the tests under a sanitizer
#   make torture    the randomized convergence test (test/net/test_converge.py)
#                   on many seeds and longer runs (TORTURE_SEEDS, TORTURE_STEPS)
#   make format | lint | clean
#
# VARIANT selects a build directory and flags (release, asan, ubsan, tsan);
# each variant has its own objects and its own dist/.

MAKEFLAGS += --no-print-directory
VARIANT ?= release
O := build/$(VARIANT)
DIST := $(if $(filter release,$(VARIANT)),dist,$(O)/dist)

CC ?= gcc
PKGS := libsodium libcrypto libcbor jansson libpcre2-8 libuv
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) -g
OPT_release := -O2
OPT_asan := -O1 -fno-omit-frame-pointer -fsanitize=address
OPT_ubsan := -O1 -fno-omit-frame-pointer -fsanitize=undefined -fno-sanitize-recover=undefined
OPT_tsan := -O1 -fsanitize=thread
SANFLAGS := $(OPT_$(VARIANT))
CFLAGS_ALL = $(BASE_CFLAGS) $(SANFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CFLAGS)
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcbor -lsodium -lcrypto -ljansson -lpcre2-8 -luv -lnng -lpthread -lm
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)

CORE_SRC := $(wildcard core/*.c)
SQL_SRC := $(wildcard sql/*.c)
NET_SRC := $(wildcard net/*.c)
EXT_SRC := ext/threads.c
LIB_SRC := $(CORE_SRC) $(SQL_SRC) $(NET_SRC) $(EXT_SRC)
HDRS := $(wildcard core/*.h sql/*.h net/*.h ext/*.h)

# Two object sets: the loadable extension calls SQLite through the
# extension API table; the static library calls it directly (SQLITE_CORE).
SO_OBJ := $(patsubst %.c,$(O)/so/%.o,$(LIB_SRC))
A_OBJ := $(patsubst %.c,$(O)/a/%.o,$(LIB_SRC))

UNIT_SRC := $(wildcard test/unit/test_*.c)
UNIT_BIN := $(patsubst test/unit/%.c,$(O)/test/%,$(UNIT_SRC))
BENCH_BIN := $(O)/bench/bench_append $(O)/bench/bench_collection \
  $(O)/bench/bench_hash $(O)/bench/bench_sync $(O)/bench/bench_merge

.PHONY: all deps demo test check bench asan ubsan tsan valgrind fuzz torture format lint clean

all: $(DIST)/threads.so $(DIST)/libthreads.a

$(O)/so/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(O)/a/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DSQLITE_CORE -c $< -o $@

$(DIST)/threads.so: $(SO_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(DIST)/libthreads.a: $(A_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(O)/test/%: test/unit/%.c $(DIST)/libthreads.a test/unit/tt.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DSQLITE_CORE -Icore -Isql -Iext -Itest/unit $< \
	  -o $@ $(LDFLAGS_ALL) $(DIST)/libthreads.a -lsqlite3 $(LIBS)

$(O)/examples/%: examples/%.c $(DIST)/libthreads.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DSQLITE_CORE -Iext $< \
	  -o $@ $(LDFLAGS_ALL) $(DIST)/libthreads.a -lsqlite3 $(LIBS)

$(O)/bench/%: test/bench/%.c $(DIST)/libthreads.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DSQLITE_CORE -Icore -Isql -Iext $< \
	  -o $@ $(LDFLAGS_ALL) $(DIST)/libthreads.a -lsqlite3 $(LIBS)

# Debian packages the build, the tests and the demo need.  Installed only
# when missing, so a machine that has them is not touched.
DEB_PKGS := build-essential pkg-config sqlite3 libsqlite3-dev libsodium-dev \
  libssl-dev libuv1-dev libnng-dev libjansson-dev libcbor-dev libpcre2-dev \
  json-schema-test-suite python3 python3-jsonschema clang libclang-rt-14-dev

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' \
	    || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q $$missing; \
	fi

demo: deps
	$(MAKE) all
	sh examples/demo.sh

test: deps
	$(MAKE) check

# The tests of one variant; the variant's objects are built first.
check: all $(UNIT_BIN) $(O)/examples/app
	sh test/run.sh $(VARIANT) $(DIST) $(O)

bench: deps
	$(MAKE) $(BENCH_BIN)
	for b in $(BENCH_BIN); do $$b || exit 1; done

asan:
	$(MAKE) VARIANT=asan check
ubsan:
	$(MAKE) VARIANT=ubsan check
tsan:
	$(MAKE) VARIANT=tsan check
valgrind: all $(UNIT_BIN)
	sh test/run.sh valgrind $(DIST) $(O)

# The randomized convergence test on many seeds (make check runs 3 short
# ones).  Works in a fresh temporary directory, kept for its traces
# (trace-<seed>.log, actions-<seed>.json); a FAIL line names its seed, and
# CONVERGE_SEEDS=<seed> replays its steps.  CONVERGE_AVOID steers around
# known defects (see the test).  VARIANT=asan etc. load the sanitizer's
# runtime into the peer processes as test/run.sh does.
TORTURE_SEEDS ?= 1001-1020
TORTURE_STEPS ?= 400
torture: all
	@d=$$(mktemp -d "$${TMPDIR:-/tmp}/threads-torture.XXXXXX"); \
	pre=""; case "$(VARIANT)" in asan|ubsan|tsan) \
	  pre="env LD_PRELOAD=$$($(CC) -print-file-name=lib$(VARIANT).so) ASAN_OPTIONS=detect_leaks=0 ";; esac; \
	echo "torture: $(TORTURE_SEEDS) x $(TORTURE_STEPS) steps in $$d"; \
	cd "$$d" && CONVERGE_SEEDS="$(TORTURE_SEEDS)" CONVERGE_STEPS=$(TORTURE_STEPS) CONVERGE_BUDGET=0 \
	  EXT=$(CURDIR)/$(DIST)/threads PYTHON3="$$pre/usr/bin/python3" \
	  /usr/bin/python3 $(CURDIR)/test/net/test_converge.py; \
	s=$$?; echo "torture: traces in $$d"; exit $$s

# libFuzzer targets for every decoder of peer or file bytes (clang).
FUZZ_SECONDS ?= 30
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh test/fuzz/run.sh

format:
	clang-format -i $(LIB_SRC) $(HDRS) $(UNIT_SRC) test/bench/*.c test/fuzz/*.c examples/*.c

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -Icore -Isql -Iext \
	  -DSQLITE_CORE $(LIB_SRC)

clean:
	rm -rf build dist
