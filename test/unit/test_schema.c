/*
** test_schema.c: tests for core/schema_*.c (JSON Schema draft-07).
**
** 1. The official JSON-Schema-Test-Suite (Debian's json-schema-test-suite
**    package): one line per file of tests/draft7/, "PASS draft7/<file>:
**    N/N" or "FAIL draft7/<file>: k/N" followed by the failed cases
**    (indented, so that test/run.sh does not count them).  refRemote.json
**    needs an HTTP server and is skipped.  The optional tests (formats,
**    bignums, ECMA regex quirks) print "INFO" lines: they are reported,
**    never counted.
** 2. Unit cases for the messages of thr_schema_compile() and
**    thr_schema_check().  The expected texts follow the message rules in
**    the header comment of schema_check.c and the examples in thr_core.h;
**    the validity verdicts follow the draft-07 specification.  None was
**    copied from the output of the code under test.
** 3. A fuzz pass: random documents against several schemas (and random
**    documents as schemas), to show that nothing crashes or leaks and that
**    every failure carries a well-formed message.
** 4. The bounds of schema_limits.c: hostile schemas and documents ($ref
**    fan-out, nested anyOf/not, recursion, catastrophic patterns, long
**    uniqueItems arrays, long strings, long "required" lists) are refused
**    within a time bound, and a realistic schema checks as before.
**
** "test_schema <case>" runs one case without the suite.
*/
#include "thr_core.h"
#include "tt.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SUITE_ROOT "/usr/share/json-schema-test-suite"
#define SUITE_DRAFT7 SUITE_ROOT "/tests/draft7"

/**************************************************************************
** Helpers.
*/

/* Compile zSchema, which must be valid; NULL (and a failed check) if not. */
static thr_schema *compile_ok(const char *zSchema) {
  thr_schema *p = NULL;
  char *zErr = NULL;
  int rc = thr_schema_compile(zSchema, &p, &zErr);
  if (rc != SQLITE_OK) {
    printf("  compile_ok(%s): %s\n", zSchema, zErr ? zErr : "(no message)");
  }
  TT_CHECK(rc == SQLITE_OK && p != NULL && zErr == NULL);
  sqlite3_free(zErr);
  return p;
}

/* The compile error of zSchema (sqlite3_malloc'd; "" if it compiled). */
static char *compile_err(const char *zSchema) {
  thr_schema *p = NULL;
  char *zErr = NULL;
  int rc = thr_schema_compile(zSchema, &p, &zErr);
  if (rc == SQLITE_OK) {
    thr_schema_free(p);
    return sqlite3_mprintf("");
  }
  TT_CHECK(rc == SQLITE_ERROR && p == NULL && zErr != NULL);
  return zErr;
}

/* Check document text zDoc against zSchema.  Returns the message of the
** failure (sqlite3_malloc'd), or NULL if the document is valid. */
static char *check_msg(const char *zSchema, const char *zDoc) {
  thr_schema *p = compile_ok(zSchema);
  json_error_t err;
  json_t *pDoc;
  char *zErr = NULL;
  int rc;
  if (p == NULL) {
    return sqlite3_mprintf("(schema did not compile)");
  }
  pDoc = json_loads(zDoc, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
  TT_CHECK(pDoc != NULL);
  if (pDoc == NULL) {
    thr_schema_free(p);
    return sqlite3_mprintf("(document is not JSON)");
  }
  rc = thr_schema_check(p, pDoc, &zErr);
  TT_CHECK((rc == SQLITE_OK && zErr == NULL) ||
           (rc == SQLITE_CONSTRAINT && zErr != NULL));
  json_decref(pDoc);
  thr_schema_free(p);
  return zErr;
}

/* Expect zDoc to fail zSchema with exactly zWant. */
#define CHECK_FAILS(zSchema, zDoc, zWant)                                      \
  do {                                                                         \
    char *zGot_ = check_msg((zSchema), (zDoc));                                \
    TT_STREQ(zGot_ ? zGot_ : "(valid)", (zWant));                              \
    sqlite3_free(zGot_);                                                       \
  } while (0)

#define CHECK_VALID(zSchema, zDoc)                                             \
  do {                                                                         \
    char *zGot_ = check_msg((zSchema), (zDoc));                                \
    TT_STREQ(zGot_ ? zGot_ : "(valid)", "(valid)");                            \
    sqlite3_free(zGot_);                                                       \
  } while (0)

#define CHECK_COMPILE_ERR(zSchema, zWant)                                      \
  do {                                                                         \
    char *zGot_ = compile_err(zSchema);                                        \
    TT_STREQ(zGot_, (zWant));                                                  \
    sqlite3_free(zGot_);                                                       \
  } while (0)

/**************************************************************************
** The official test suite.
*/

/* Load a suite file.  The optional bignum tests hold integers beyond 64
** bits, which jansson reads only as reals. */
static json_t *suite_load(const char *zPath, char **pzWhy) {
  json_error_t err;
  json_t *p = json_load_file(zPath, 0, &err);
  if (p == NULL && json_error_code(&err) == json_error_numeric_overflow) {
    p = json_load_file(zPath, JSON_DECODE_INT_AS_REAL, &err);
  }
  if (p == NULL) {
    *pzWhy = sqlite3_mprintf("%s (line %d)", err.text, err.line);
  }
  return p;
}

/* Run every case of one file.  *pnPass and *pnTotal get the counts; the
** failed cases are appended to pOut, one indented line each.  Returns 0 if
** the file could not be read. */
static int suite_file(const char *zPath, int *pnPass, int *pnTotal,
                      sqlite3_str *pOut) {
  char *zWhy = NULL;
  json_t *pGroups = suite_load(zPath, &zWhy);
  size_t iGroup, iTest;
  *pnPass = *pnTotal = 0;
  if (pGroups == NULL) {
    sqlite3_str_appendf(pOut, "  cannot load: %s\n", zWhy);
    sqlite3_free(zWhy);
    return 0;
  }
  for (iGroup = 0; iGroup < json_array_size(pGroups); iGroup++) {
    json_t *pGroup = json_array_get(pGroups, iGroup);
    const char *zGroup =
        json_string_value(json_object_get(pGroup, "description"));
    json_t *pTests = json_object_get(pGroup, "tests");
    char *zSchema = json_dumps(json_object_get(pGroup, "schema"),
                               JSON_ENCODE_ANY | JSON_COMPACT);
    thr_schema *pSchema = NULL;
    char *zErr = NULL;
    int rcCompile = thr_schema_compile(zSchema, &pSchema, &zErr);
    free(zSchema);
    for (iTest = 0; iTest < json_array_size(pTests); iTest++) {
      json_t *pTest = json_array_get(pTests, iTest);
      const char *zTest =
          json_string_value(json_object_get(pTest, "description"));
      int bWant = json_is_true(json_object_get(pTest, "valid"));
      (*pnTotal)++;
      if (rcCompile != SQLITE_OK) {
        sqlite3_str_appendf(pOut, "  %s / %s: schema does not compile: %s\n",
                            zGroup, zTest, zErr);
      } else {
        char *zMsg = NULL;
        int rc =
            thr_schema_check(pSchema, json_object_get(pTest, "data"), &zMsg);
        if ((rc == SQLITE_OK) == bWant &&
            (rc == SQLITE_OK || rc == SQLITE_CONSTRAINT)) {
          (*pnPass)++;
        } else if (bWant) {
          sqlite3_str_appendf(pOut, "  %s / %s: expected valid, got %s\n",
                              zGroup, zTest, zMsg ? zMsg : sqlite3_errstr(rc));
        } else {
          sqlite3_str_appendf(pOut, "  %s / %s: expected invalid\n", zGroup,
                              zTest);
        }
        sqlite3_free(zMsg);
      }
    }
    sqlite3_free(zErr);
    thr_schema_free(pSchema);
  }
  json_decref(pGroups);
  return 1;
}

static int suite_filter(const struct dirent *p) {
  size_t n = strlen(p->d_name);
  return n > 5 && strcmp(p->d_name + n - 5, ".json") == 0;
}

/* Run the .json files of zDir (relative to the draft7 directory; "" for
** the directory itself).  bInfo: print INFO lines rather than PASS/FAIL.
** Adds to the totals. */
static void suite_dir(const char *zDir, int bInfo, int *pnPass, int *pnTotal) {
  struct dirent **aEnt = NULL;
  char *zPath = sqlite3_mprintf("%s/%s", SUITE_DRAFT7, zDir);
  int nEnt = scandir(zPath, &aEnt, suite_filter, alphasort), i;
  for (i = 0; i < nEnt; i++) {
    const char *zName = aEnt[i]->d_name;
    char *zFile = sqlite3_mprintf("%s/%s", zPath, zName);
    char *zShow = sqlite3_mprintf("draft7/%s%s", zDir, zName);
    sqlite3_str *pOut = sqlite3_str_new(NULL);
    int nPass = 0, nTotal = 0, bRead;
    char *zFailed;
    bRead = suite_file(zFile, &nPass, &nTotal, pOut);
    zFailed = sqlite3_str_finish(pOut);
    if (!bInfo && strcmp(zName, "refRemote.json") == 0) {
      printf("SKIP %s: needs a remote server (%d tests)\n", zShow, nTotal);
    } else if (bInfo) {
      printf("INFO %s: %d/%d\n%s", zShow, nPass, nTotal,
             zFailed ? zFailed : "");
    } else {
      if (bRead && nPass == nTotal) {
        printf("PASS %s: %d/%d\n", zShow, nPass, nTotal);
      } else {
        printf("FAIL %s: %d/%d\n%s", zShow, nPass, nTotal,
               zFailed ? zFailed : "");
        tt_nFail++;
      }
      *pnPass += nPass;
      *pnTotal += nTotal;
    }
    if (bInfo) {
      *pnPass += nPass;
      *pnTotal += nTotal;
    }
    fflush(stdout);
    sqlite3_free(zFailed);
    sqlite3_free(zShow);
    sqlite3_free(zFile);
    free(aEnt[i]);
  }
  free(aEnt);
  sqlite3_free(zPath);
}

static void run_suite(void) {
  struct stat st;
  int nPass = 0, nTotal = 0, nOptPass = 0, nOptTotal = 0;
  int nFmtPass = 0, nFmtTotal = 0;
  if (stat(SUITE_DRAFT7, &st) != 0 || !S_ISDIR(st.st_mode)) {
    printf("FAIL draft7 suite: %s not installed\n", SUITE_ROOT);
    tt_nFail++;
    return;
  }
  suite_dir("", 0, &nPass, &nTotal);
  suite_dir("optional/", 1, &nOptPass, &nOptTotal);
  suite_dir("optional/format/", 1, &nFmtPass, &nFmtTotal);
  printf("INFO draft7 totals: required %d/%d (refRemote skipped), optional "
         "%d/%d, optional/format %d/%d\n",
         nPass, nTotal, nOptPass, nOptTotal, nFmtPass, nFmtTotal);
}

/**************************************************************************
** Messages of thr_schema_check().
*/

/* The examples of thr_core.h, and the type keyword. */
static void test_msg_header_examples(void) {
  CHECK_FAILS("{\"properties\":{\"age\":{\"minimum\":0}}}", "{\"age\":-1}",
              "/age: minimum: -1 is less than 0");
  CHECK_FAILS("{\"required\":[\"name\"]}", "{}",
              ": required: missing property \"name\"");
  CHECK_FAILS("{\"properties\":{\"tags\":{\"items\":{\"type\":\"string\"}}}}",
              "{\"tags\":[\"a\",\"b\",3]}",
              "/tags/2: type: expected string, got integer");
  CHECK_FAILS("{\"type\":[\"integer\",\"string\"]}", "true",
              ": type: expected integer or string, got boolean");
  /* 2.0 is an integer in draft-07, 2.5 is not. */
  CHECK_FAILS("{\"type\":\"string\"}", "2.0",
              ": type: expected string, got integer");
  CHECK_FAILS("{\"type\":\"integer\"}", "2.5",
              ": type: expected integer, got number");
  CHECK_VALID("{\"type\":\"integer\"}", "2.0");
  CHECK_VALID("{\"type\":\"number\"}", "2");
}

/* JSON pointer escaping of member names, and nesting. */
static void test_msg_pointer(void) {
  CHECK_FAILS("{\"properties\":{\"a/b\":{\"properties\":"
              "{\"c~d\":{\"type\":\"null\"}}}}}",
              "{\"a/b\":{\"c~d\":1}}",
              "/a~1b/c~0d: type: expected null, got integer");
  CHECK_FAILS("{\"items\":{\"items\":{\"maximum\":1}}}", "[[0],[1,2]]",
              "/1/1: maximum: 2 is greater than 1");
}

static void test_msg_scalars(void) {
  /* "héé" is three code points in five bytes. */
  CHECK_FAILS("{\"maxLength\":2}", "\"h\\u00e9\\u00e9\"",
              ": maxLength: string has 3 characters, at most 2 allowed");
  CHECK_VALID("{\"maxLength\":3}", "\"h\\u00e9\\u00e9\"");
  CHECK_FAILS("{\"minLength\":2}", "\"\\u00e9\"",
              ": minLength: string has 1 character, at least 2 required");
  CHECK_FAILS("{\"pattern\":\"^a+$\"}", "\"ab\"",
              ": pattern: \"ab\" does not match \"^a+$\"");
  CHECK_FAILS("{\"enum\":[1,2,3]}", "4", ": enum: 4 is not one of [1,2,3]");
  CHECK_VALID("{\"enum\":[1,2,3]}", "3.0");
  CHECK_FAILS("{\"const\":{\"a\":1}}", "{\"a\":2}",
              ": const: expected {\"a\":1}, got {\"a\":2}");
  CHECK_VALID("{\"const\":{\"a\":[1,{\"b\":null}]}}",
              "{\"a\":[1.0,{\"b\":null}]}");
  /* 0.07 is 7 x 0.01 in decimal, though not in binary floating point. */
  CHECK_VALID("{\"multipleOf\":0.01}", "0.07");
  CHECK_FAILS("{\"multipleOf\":0.01}", "0.075",
              ": multipleOf: 0.075 is not a multiple of 0.01");
  CHECK_VALID("{\"multipleOf\":0.5}", "12");
  CHECK_FAILS("{\"multipleOf\":20}", "30",
              ": multipleOf: 30 is not a multiple of 20");
  CHECK_VALID("{\"multipleOf\":3}", "9007199254740993");
  CHECK_FAILS("{\"exclusiveMaximum\":3}", "3.0",
              ": exclusiveMaximum: 3.0 is not less than 3");
  CHECK_FAILS("{\"exclusiveMinimum\":1.5}", "1.5",
              ": exclusiveMinimum: 1.5 is not greater than 1.5");
  CHECK_FAILS("{\"maximum\":9007199254740992}", "9007199254740993",
              ": maximum: 9007199254740993 is greater than 9007199254740992");
  CHECK_FAILS("{\"format\":\"date\"}", "\"2021-02-29\"",
              ": format: \"2021-02-29\" is not a valid date");
  CHECK_VALID("{\"format\":\"date\"}", "\"2020-02-29\"");
  CHECK_VALID("{\"format\":\"no-such-format\"}", "\"anything\"");
  CHECK_VALID("{\"format\":\"ipv4\"}", "12");
}

static void test_msg_containers(void) {
  CHECK_FAILS("{\"properties\":{\"a\":{}},\"additionalProperties\":false}",
              "{\"a\":1,\"b~/\":2}",
              ": additionalProperties: property \"b~/\" is not allowed");
  CHECK_FAILS("{\"additionalProperties\":{\"type\":\"boolean\"}}",
              "{\"x\":true,\"y\":1}",
              "/y: type: expected boolean, got integer");
  CHECK_FAILS("{\"properties\":{\"x\":false}}", "{\"x\":1}",
              ": properties: property \"x\" is not allowed");
  CHECK_FAILS("{\"items\":[{},{}],\"additionalItems\":false}", "[1,2,3]",
              ": additionalItems: item 2 is not allowed");
  CHECK_FAILS("{\"uniqueItems\":true}", "[1,\"a\",1.0]",
              ": uniqueItems: items 0 and 2 are equal");
  CHECK_FAILS("{\"contains\":{\"type\":\"string\"}}", "[1,2]",
              ": contains: no item matches the schema");
  CHECK_FAILS("{\"maxItems\":1}", "[1,2]",
              ": maxItems: array has 2 items, at most 1 allowed");
  CHECK_FAILS("{\"minItems\":1}", "[]",
              ": minItems: array has 0 items, at least 1 required");
  CHECK_FAILS("{\"maxProperties\":0}", "{\"a\":1}",
              ": maxProperties: object has 1 property, at most 0 allowed");
  CHECK_FAILS("{\"minProperties\":2}", "{\"a\":1}",
              ": minProperties: object has 1 property, at least 2 required");
  CHECK_FAILS("{\"dependencies\":{\"bar\":[\"foo\"]}}", "{\"bar\":1}",
              ": dependencies: property \"bar\" requires property \"foo\"");
  CHECK_FAILS("{\"dependencies\":{\"bar\":{\"required\":[\"baz\"]}}}",
              "{\"bar\":1}", ": required: missing property \"baz\"");
  CHECK_FAILS("{\"propertyNames\":{\"maxLength\":3}}", "{\"ab\":1,\"abcd\":1}",
              ": propertyNames: property name \"abcd\" is invalid: maxLength: "
              "string has 4 characters, at most 3 allowed");
  CHECK_FAILS("{\"propertyNames\":false}", "{\"a\":1}",
              ": propertyNames: property name \"a\" is not allowed");
}

static void test_msg_combinators(void) {
  CHECK_FAILS("{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":10}]}", "5",
              ": anyOf: the value matches none of the 2 subschemas");
  CHECK_FAILS("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", "3",
              ": oneOf: the value matches subschemas 0 and 1, but must match "
              "exactly one");
  CHECK_FAILS("{\"oneOf\":[{\"type\":\"string\"}]}", "3",
              ": oneOf: the value matches none of the 1 subschema");
  CHECK_FAILS("{\"not\":{\"type\":\"null\"}}", "null",
              ": not: the value must not match the schema");
  CHECK_FAILS(
      "{\"allOf\":[{\"type\":\"object\"},{\"required\":[\"x\"]}]}", "{}",
      ": allOf: subschema 1 failed: : required: missing property \"x\"");
  CHECK_FAILS("{\"properties\":{\"p\":{\"allOf\":[{\"items\":{\"type\":"
              "\"null\"}}]}}}",
              "{\"p\":[null,0]}",
              "/p: allOf: subschema 0 failed: /p/1: type: expected null, got "
              "integer");
  /* then and else pass the inner message through. */
  CHECK_FAILS("{\"if\":{\"minimum\":0},\"then\":{\"multipleOf\":2},"
              "\"else\":{\"const\":-1}}",
              "3", ": multipleOf: 3 is not a multiple of 2");
  CHECK_FAILS("{\"if\":{\"minimum\":0},\"then\":{\"multipleOf\":2},"
              "\"else\":{\"const\":-1}}",
              "-5", ": const: expected -1, got -5");
  CHECK_VALID("{\"if\":{\"minimum\":0},\"then\":{\"multipleOf\":2},"
              "\"else\":{\"const\":-1}}",
              "-1");
  CHECK_FAILS("false", "{}", ": false: the schema false rejects every value");
  CHECK_VALID("true", "[1,{}]");
}

/* Keywords are evaluated in the schema's order: the first failing one
** speaks. */
static void test_msg_order(void) {
  CHECK_FAILS("{\"maxLength\":2,\"pattern\":\"^a\"}", "\"bbb\"",
              ": maxLength: string has 3 characters, at most 2 allowed");
  CHECK_FAILS("{\"pattern\":\"^a\",\"maxLength\":2}", "\"bbb\"",
              ": pattern: \"bbb\" does not match \"^a\"");
  /* "$ref" siblings are ignored. */
  CHECK_VALID("{\"definitions\":{\"a\":{\"type\":\"integer\"}},"
              "\"properties\":{\"x\":{\"$ref\":\"#/definitions/a\","
              "\"maximum\":1}}}",
              "{\"x\":5}");
}

static void test_msg_refs(void) {
  /* Percent-encoding and ~0/~1 in pointer fragments. */
  CHECK_FAILS("{\"definitions\":{\"a b\":{\"type\":\"integer\"},"
              "\"c/d~\":{\"type\":\"null\"}},"
              "\"properties\":{\"x\":{\"$ref\":\"#/definitions/a%20b\"},"
              "\"y\":{\"$ref\":\"#/definitions/c~1d~0\"}}}",
              "{\"x\":1,\"y\":\"s\"}", "/y: type: expected null, got string");
  /* A plain-name fragment defined by "$id". */
  CHECK_FAILS("{\"$id\":\"http://example.com/root.json\","
              "\"definitions\":{\"A\":{\"$id\":\"#foo\",\"type\":\"integer\"}},"
              "\"properties\":{\"x\":{\"$ref\":\"#foo\"}}}",
              "{\"x\":\"s\"}", "/x: type: expected integer, got string");
  /* Relative references against the base URI "$id" sets, through a
  ** folder. */
  CHECK_FAILS("{\"$id\":\"http://example.com/a/root.json\","
              "\"definitions\":{\"f\":{\"$id\":\"folder/\",\"definitions\":"
              "{\"i\":{\"$id\":\"int.json\",\"type\":\"integer\"}}}},"
              "\"properties\":{\"x\":{\"$ref\":\"folder/int.json\"},"
              "\"y\":{\"$ref\":\"http://example.com/a/folder/int.json\"}}}",
              "{\"x\":1,\"y\":true}",
              "/y: type: expected integer, got boolean");
  /* A subschema with its own base resolves "#..." against it. */
  CHECK_FAILS(
      "{\"$id\":\"http://example.com/r\",\"properties\":{\"x\":"
      "{\"$ref\":\"other#/definitions/n\"}},\"definitions\":{\"o\":"
      "{\"$id\":\"other\",\"definitions\":{\"n\":{\"type\":\"null\"}}}}}",
      "{\"x\":0}", "/x: type: expected null, got integer");
  /* A member named "$id" on the way of a pointer is not an identifier. */
  CHECK_FAILS("{\"properties\":{\"$id\":{\"type\":\"string\"},"
              "\"b\":{\"$ref\":\"#/properties/$id\"}}}",
              "{\"b\":1}", "/b: type: expected string, got integer");
  /* A target outside the schema positions (an unknown keyword) is compiled
  ** when referenced, under the base URI of its place: its own "$id"
  ** counts once. */
  CHECK_FAILS("{\"$id\":\"http://example.com/root.json\",\"x-defs\":{\"a\":"
              "{\"$id\":\"folder/\",\"properties\":{\"p\":{\"$ref\":"
              "\"int.json\"}}}},\"properties\":{\"q\":{\"$ref\":"
              "\"#/x-defs/a\"}}}",
              "{\"q\":{\"p\":1}}",
              "/q/p: $ref: remote references are not supported "
              "(http://example.com/folder/int.json)");
  /* Remote references compile but cannot be checked; the verdict crosses
  ** anyOf. */
  CHECK_FAILS("{\"$ref\":\"http://example.com/s.json\"}", "1",
              ": $ref: remote references are not supported "
              "(http://example.com/s.json)");
  CHECK_FAILS("{\"properties\":{\"a\":{\"anyOf\":[{\"$ref\":"
              "\"http://example.com/s.json#/x\"},true]}}}",
              "{\"a\":1}",
              "/a: $ref: remote references are not supported "
              "(http://example.com/s.json#/x)");
  /* The draft-07 meta-schema is built in. */
  CHECK_VALID("{\"$ref\":\"http://json-schema.org/draft-07/schema#\"}",
              "{\"type\":\"string\",\"minLength\":1}");
  CHECK_FAILS("{\"$ref\":\"http://json-schema.org/draft-07/schema#\"}",
              "{\"minLength\":-1}",
              "/minLength: allOf: subschema 0 failed: /minLength: minimum: -1 "
              "is less than 0");
}

/* uniqueItems on arrays long enough for the hashed path (over 32 items):
** the pair reported must be the first one in (j, i) order, and equality is
** JSON Schema's (1 == 1.0, -0.0 == 0, objects in any member order).  Items
** come from a pool where equal values share a class number. */
static void test_unique_long(void) {
  static const struct {
    const char *zJson;
    int iClass;
  } aPool[] = {
      {"1", 1},
      {"1.0", 1},
      {"0", 2},
      {"-0.0", 2},
      {"[1,2]", 3},
      {"[1.0,2]", 3},
      {"{\"a\":1,\"b\":[2]}", 4},
      {"{\"b\":[2.0],\"a\":1}", 4},
      {"null", 5},
      {"true", 6},
      {"false", 7},
      {"\"a\"", 8},
      {"\"\"", 9},
      {"[]", 10},
      {"{}", 11},
      {"[[]]", 12},
      {"{\"a\":{}}", 13},
      {"\"1\"", 14},
  };
  enum { N_POOL = sizeof(aPool) / sizeof(aPool[0]), N_EXTRA = 200 };
  thr_schema *p = compile_ok("{\"uniqueItems\":true}");
  int iRound;
  if (p == NULL) {
    return;
  }
  tt_rng_seed(0xa11ce);
  for (iRound = 0; iRound < 2000; iRound++) {
    size_t n = 33 + rng_below(60), i, j, iWant = 0, jWant = 0;
    int aClass[128], bDup = 0;
    json_t *pArr = json_array();
    char *zErr = NULL, *zWant = NULL;
    int rc;
    for (i = 0; i < n; i++) {
      /* Mostly distinct integers, sometimes a pool value. */
      unsigned k = rng_below(N_POOL + N_EXTRA);
      if (k < N_POOL && rng_below(3) == 0) {
        json_array_append_new(
            pArr, json_loads(aPool[k].zJson, JSON_DECODE_ANY, NULL));
        aClass[i] = aPool[k].iClass;
      } else {
        k = rng_below(1000);
        json_array_append_new(pArr, json_integer(1000 + k));
        aClass[i] = 1000 + (int)k;
      }
    }
    for (j = 1; j < n && !bDup; j++) {
      for (i = 0; i < j; i++) {
        if (aClass[i] == aClass[j]) {
          iWant = i;
          jWant = j;
          bDup = 1;
          break;
        }
      }
    }
    rc = thr_schema_check(p, pArr, &zErr);
    if (bDup) {
      zWant =
          sqlite3_mprintf(": uniqueItems: items %llu and %llu are equal",
                          (unsigned long long)iWant, (unsigned long long)jWant);
      TT_CHECK(rc == SQLITE_CONSTRAINT);
      TT_STREQ(zErr, zWant);
    } else {
      TT_CHECK(rc == SQLITE_OK && zErr == NULL);
    }
    sqlite3_free(zWant);
    sqlite3_free(zErr);
    json_decref(pArr);
  }
  thr_schema_free(p);
}

/**************************************************************************
** Compilation errors.
*/
static void test_invalid_schemas(void) {
  char *z = compile_err("{\"type\":");
  TT_CHECK(strncmp(z, "invalid schema: not JSON: ", 26) == 0);
  TT_CHECK(strstr(z, "(line 1, column ") != NULL);
  sqlite3_free(z);

  CHECK_COMPILE_ERR(
      "{\"properties\":{\"age\":{\"minimum\":\"0\"}}}",
      "invalid schema: /properties/age/minimum: must be a number");
  CHECK_COMPILE_ERR("{\"properties\":{\"name\":{\"pattern\":\"a(b\"}}}",
                    "invalid schema: /properties/name/pattern: invalid regular "
                    "expression: missing closing parenthesis at offset 3");
  CHECK_COMPILE_ERR("{\"items\":{\"$ref\":\"#/definitions/nope\"}}",
                    "invalid schema: /items/$ref: cannot resolve "
                    "#/definitions/nope");
  CHECK_COMPILE_ERR("5", "invalid schema: : must be an object or a boolean");
  CHECK_COMPILE_ERR("{\"properties\":{\"a\":3}}",
                    "invalid schema: /properties/a: must be an object or a "
                    "boolean");
  CHECK_COMPILE_ERR("{\"type\":\"strin\"}",
                    "invalid schema: /type: unknown type \"strin\"");
  CHECK_COMPILE_ERR("{\"type\":[\"string\",\"null\",\"string\"]}",
                    "invalid schema: /type/2: duplicate type \"string\"");
  CHECK_COMPILE_ERR("{\"required\":[\"a\",\"a\"]}",
                    "invalid schema: /required/1: duplicate name \"a\"");
  CHECK_COMPILE_ERR("{\"required\":\"a\"}",
                    "invalid schema: /required: must be an array of strings");
  CHECK_COMPILE_ERR(
      "{\"minLength\":-1}",
      "invalid schema: /minLength: must be a non-negative integer");
  CHECK_COMPILE_ERR(
      "{\"maxItems\":1.5}",
      "invalid schema: /maxItems: must be a non-negative integer");
  CHECK_COMPILE_ERR("{\"multipleOf\":0}",
                    "invalid schema: /multipleOf: must be a number greater "
                    "than 0");
  CHECK_COMPILE_ERR("{\"allOf\":[]}",
                    "invalid schema: /allOf: must be a non-empty array of "
                    "schemas");
  CHECK_COMPILE_ERR("{\"uniqueItems\":1}",
                    "invalid schema: /uniqueItems: must be a boolean");
  CHECK_COMPILE_ERR("{\"dependencies\":{\"a\":\"b\"}}",
                    "invalid schema: /dependencies/a: must be a schema or an "
                    "array of strings");
  CHECK_COMPILE_ERR("{\"pattern\":\"\\\\Z\"}",
                    "invalid schema: /pattern: invalid regular expression: "
                    "invalid escape at offset 0");
  CHECK_COMPILE_ERR("{\"patternProperties\":{\"a[\":{}}}",
                    "invalid schema: /patternProperties/a[: invalid regular "
                    "expression: missing terminating ] for character class at "
                    "offset 2");
  CHECK_COMPILE_ERR("{\"$ref\":5}", "invalid schema: /$ref: must be a string");
  CHECK_COMPILE_ERR("{\"$ref\":\"other.json\"}",
                    "invalid schema: /$ref: cannot resolve other.json");
  CHECK_COMPILE_ERR("{\"required\":[\"a\"],\"properties\":{\"x\":{\"$ref\":"
                    "\"#/required\"}}}",
                    "invalid schema: /properties/x/$ref: #/required does not "
                    "point to a schema");
  /* Definitions are checked even beside "$ref"; other siblings are not. */
  CHECK_COMPILE_ERR("{\"$ref\":\"#/definitions/a\",\"definitions\":{\"a\":"
                    "{\"minimum\":\"x\"}}}",
                    "invalid schema: /definitions/a/minimum: must be a number");
  CHECK_COMPILE_ERR("{\"$ref\":\"#\",\"minimum\":\"x\"}", "");
  CHECK_COMPILE_ERR("true", "");
  CHECK_COMPILE_ERR("false", "");
}

/* thr_schema_json() gives back the document. */
static void test_schema_json(void) {
  thr_schema *p = compile_ok("{\"type\":\"object\",\"required\":[\"a\"]}");
  json_t *pWant =
      json_loads("{\"required\":[\"a\"],\"type\":\"object\"}", 0, NULL);
  TT_CHECK(p && json_equal((json_t *)thr_schema_json(p), pWant));
  json_decref(pWant);
  thr_schema_free(p);
}

/**************************************************************************
** Patterns with Unicode, in ECMA-262 semantics.
*/
static void test_pattern_unicode(void) {
  /* "." is one code point, whatever its UTF-8 length, but no line
  ** terminator. */
  CHECK_VALID("{\"pattern\":\"^.$\"}", "\"\\u00e9\"");
  CHECK_VALID("{\"pattern\":\"^.$\"}", "\"\\ud83d\\ude00\"");
  CHECK_FAILS("{\"pattern\":\"^.$\"}", "\"ab\"",
              ": pattern: \"ab\" does not match \"^.$\"");
  CHECK_FAILS("{\"pattern\":\"^.$\"}", "\"\\u2028\"",
              ": pattern: \"\xe2\x80\xa8\" does not match \"^.$\"");
  CHECK_FAILS("{\"pattern\":\"^.$\"}", "\"\\n\"",
              ": pattern: \"\\u000a\" does not match \"^.$\"");
  /* \uXXXX escapes, including a surrogate pair. */
  CHECK_VALID("{\"pattern\":\"^\\\\u00e9+$\"}", "\"\\u00e9\\u00e9\"");
  CHECK_VALID("{\"pattern\":\"^\\\\ud83d\\\\ude00$\"}", "\"\\ud83d\\ude00\"");
  /* Unicode properties. */
  CHECK_VALID("{\"pattern\":\"^\\\\p{L}+$\"}",
              "\"\\u00dcn\\u00efc\\u00f6d\\u00e9\"");
  CHECK_VALID("{\"pattern\":\"^\\\\p{Letter}\\\\p{Uppercase_Letter}$\"}",
              "\"a\\u00c9\"");
  CHECK_FAILS("{\"pattern\":\"^\\\\p{gc=Lu}$\"}", "\"\\u00e9\"",
              ": pattern: \"\xc3\xa9\" does not match \"^\\\\p{gc=Lu}$\"");
  CHECK_FAILS("{\"pattern\":\"^\\\\p{L}+$\"}", "\"abc1\"",
              ": pattern: \"abc1\" does not match \"^\\\\p{L}+$\"");
  /* \d is ASCII (U+0663 ARABIC-INDIC DIGIT THREE is not a match); \s is
  ** Unicode white space (U+00A0, U+2003). */
  CHECK_VALID("{\"pattern\":\"^\\\\d$\"}", "\"3\"");
  CHECK_FAILS("{\"pattern\":\"^\\\\d$\"}", "\"\\u0663\"",
              ": pattern: \"\xd9\xa3\" does not match \"^\\\\d$\"");
  CHECK_VALID("{\"pattern\":\"^\\\\s\\\\s$\"}", "\"\\u00a0\\u2003\"");
  CHECK_VALID("{\"pattern\":\"^\\\\S$\"}", "\"\\u00e9\"");
  /* "$" is the very end, not before a final newline. */
  CHECK_FAILS("{\"pattern\":\"^a$\"}", "\"a\\n\"",
              ": pattern: \"a\\u000a\" does not match \"^a$\"");
  /* A non-ASCII patternProperties key. */
  CHECK_VALID("{\"patternProperties\":{\"^\\u00e9\":{\"type\":\"integer\"}},"
              "\"additionalProperties\":false}",
              "{\"\\u00e9a\":1}");
  CHECK_FAILS("{\"patternProperties\":{\"^\\u00e9\":{\"type\":\"integer\"}},"
              "\"additionalProperties\":false}",
              "{\"ea\":1}",
              ": additionalProperties: property \"ea\" is not allowed");
  /* ECMA classes: [^] is any character, [] none. */
  CHECK_VALID("{\"pattern\":\"^[^]$\"}", "\"\\n\"");
  CHECK_FAILS("{\"pattern\":\"[]\"}", "\"a\"",
              ": pattern: \"a\" does not match \"[]\"");
}

/**************************************************************************
** The depth guards.
*/
static void test_ref_cycle(void) {
  char *zWant;
  json_t *pDoc, *pInner;
  thr_schema *p;
  char *zErr = NULL;
  int i, rc;
  sqlite3_str *pStr;

  /* A reference cycle that makes no progress in the instance. */
  CHECK_FAILS("{\"$ref\":\"#\"}", "1",
              ": $ref: recursion deeper than 256 levels (a reference cycle?)");
  CHECK_FAILS("{\"definitions\":{\"a\":{\"allOf\":[{\"$ref\":"
              "\"#/definitions/a\"}]}},\"$ref\":\"#/definitions/a\"}",
              "{}",
              ": $ref: recursion deeper than 256 levels (a reference cycle?)");
  CHECK_FAILS("{\"not\":{\"$ref\":\"#\"}}", "null",
              ": $ref: recursion deeper than 256 levels (a reference cycle?)");

  /* Real recursion: one "$ref" per level of nested arrays.  200 levels
  ** pass; 300 exceed the guard at the 257th hop, at the item 257 arrays
  ** down. */
  p = compile_ok("{\"items\":{\"$ref\":\"#\"}}");
  if (p == NULL) {
    return;
  }
  for (i = 0; i < 2; i++) {
    int nLevel = i == 0 ? 200 : 300, k;
    pDoc = json_array();
    pInner = pDoc;
    for (k = 1; k < nLevel; k++) {
      json_t *pNew = json_array();
      json_array_append_new(pInner, pNew);
      pInner = pNew;
    }
    rc = thr_schema_check(p, pDoc, &zErr);
    if (nLevel == 200) {
      TT_CHECK(rc == SQLITE_OK && zErr == NULL);
    } else {
      pStr = sqlite3_str_new(NULL);
      for (k = 0; k < 257; k++) {
        sqlite3_str_appendall(pStr, "/0");
      }
      sqlite3_str_appendall(pStr, ": $ref: recursion deeper than 256 levels "
                                  "(a reference cycle?)");
      zWant = sqlite3_str_finish(pStr);
      TT_CHECK(rc == SQLITE_CONSTRAINT);
      TT_STREQ(zErr, zWant);
      sqlite3_free(zWant);
    }
    sqlite3_free(zErr);
    zErr = NULL;
    json_decref(pDoc);
  }
  thr_schema_free(p);

  /* Schemas nested deeper than the static bound do not compile (the
  ** application guard is for recursion on deep instances). */
  pStr = sqlite3_str_new(NULL);
  for (i = 0; i < 1100; i++) {
    sqlite3_str_appendall(pStr, "{\"not\":");
  }
  sqlite3_str_appendall(pStr, "true");
  for (i = 0; i < 1100; i++) {
    sqlite3_str_appendall(pStr, "}");
  }
  {
    char *zSchema = sqlite3_str_finish(pStr);
    pStr = sqlite3_str_new(NULL);
    sqlite3_str_appendall(pStr, "schema too complex: ");
    for (i = 0; i < 128; i++) {
      sqlite3_str_appendall(pStr, "/not");
    }
    sqlite3_str_appendall(pStr, ": subschemas nested deeper than 128 levels "
                                "(limit 128)");
    zWant = sqlite3_str_finish(pStr);
    zErr = compile_err(zSchema);
    TT_STREQ(zErr, zWant);
    sqlite3_free(zErr);
    sqlite3_free(zWant);
    sqlite3_free(zSchema);
  }
}

/**************************************************************************
** Out of memory.  main() routes SQLite's allocator through oom_malloc(),
** which fails the Nth call when armed.  Every failure must come back as
** SQLITE_NOMEM (or, past the last allocation, as the normal result), with
** nothing leaked: AddressSanitizer's leak check runs at exit.
*/
static sqlite3_mem_methods oomOrig;
static long oomCountdown = -1; /* fail when this reaches 0; -1: never */
static long oomCalls = 0;

static void *oom_malloc(int n) {
  oomCalls++;
  if (oomCountdown >= 0 && oomCountdown-- == 0) {
    return NULL;
  }
  return oomOrig.xMalloc(n);
}
static void *oom_realloc(void *p, int n) {
  oomCalls++;
  if (oomCountdown >= 0 && oomCountdown-- == 0) {
    return NULL;
  }
  return oomOrig.xRealloc(p, n);
}

/* Install the wrapper; must run before SQLite initializes. */
static void oom_install(void) {
  sqlite3_mem_methods m;
  sqlite3_config(SQLITE_CONFIG_GETMALLOC, &oomOrig);
  m = oomOrig;
  m.xMalloc = oom_malloc;
  m.xRealloc = oom_realloc;
  sqlite3_config(SQLITE_CONFIG_MALLOC, &m);
}

static void test_oom(void) {
  static const char *const azCase[][2] = {
      {"{\"$id\":\"http://e.com/r\",\"definitions\":{\"a\":{\"$id\":\"#foo\","
       "\"type\":\"integer\"}},\"properties\":{\"x\":{\"$ref\":\"#foo\"},"
       "\"y\":{\"pattern\":\"^\\\\p{Letter}.$\",\"format\":\"date\"},"
       "\"z\":{\"$ref\":\"http://json-schema.org/draft-07/schema#\"}},"
       "\"propertyNames\":{\"maxLength\":3},\"allOf\":[{\"required\":[\"q\"]}]"
       "}",
       "{\"x\":1,\"y\":\"ab\",\"z\":{\"minLength\":-1}}"},
      {"{\"items\":{\"$ref\":\"#\"},\"uniqueItems\":true,\"contains\":"
       "{\"const\":[1]}}",
       "[[1],[2],[[1]],[1],[3],[4],[5],[6],[7],[8],[9],[10],[11],[12],[13],"
       "[14],[15],[16],[17],[18],[19],[20],[21],[22],[23],[24],[25],[26],"
       "[27],[28],[29],[30],[31],[32],[33]]"},
  };
  unsigned c;
  for (c = 0; c < sizeof(azCase) / sizeof(azCase[0]); c++) {
    json_t *pDoc = json_loads(azCase[c][1], JSON_DECODE_ANY, NULL);
    char *zWant = NULL;
    int rcWant;
    long k, nCall;
    thr_schema *p = compile_ok(azCase[c][0]);
    if (p == NULL || pDoc == NULL) {
      json_decref(pDoc);
      return;
    }
    oomCalls = 0;
    rcWant = thr_schema_check(p, pDoc, &zWant);
    thr_schema_free(p);
    for (k = 0;; k++) {
      char *zErr = NULL;
      int rc;
      oomCalls = 0;
      oomCountdown = k;
      rc = thr_schema_compile(azCase[c][0], &p, &zErr);
      if (rc == SQLITE_OK) {
        rc = thr_schema_check(p, pDoc, &zErr);
        thr_schema_free(p);
        TT_CHECK(rc == SQLITE_NOMEM ||
                 (rc == rcWant && zErr && zWant && strcmp(zErr, zWant) == 0));
      } else {
        TT_CHECK(rc == SQLITE_NOMEM && zErr == NULL);
      }
      nCall = oomCalls;
      oomCountdown = -1;
      sqlite3_free(zErr);
      if (k > nCall) {
        break; /* the failure was never reached: the sweep is complete */
      }
    }
    sqlite3_free(zWant);
    json_decref(pDoc);
  }
}

/**************************************************************************
** Fuzzing.
*/

static const char *const azFuzzKey[] = {
    "a", "b", "foo", "bar", "x", "\xc3\xa9", "$ref", "0", "~1/", "abcd", "",
};
static const char *const azSchemaKey[] = {
    "type",
    "items",
    "properties",
    "$ref",
    "minimum",
    "pattern",
    "required",
    "enum",
    "allOf",
    "anyOf",
    "not",
    "additionalProperties",
    "definitions",
    "$id",
    "const",
    "contains",
    "if",
    "then",
    "else",
    "dependencies",
    "multipleOf",
    "maxLength",
    "uniqueItems",
    "format",
    "propertyNames",
    "patternProperties",
    "additionalItems",
    "oneOf",
    "a",
};
static const char *const azFuzzStr[] = {
    "",
    "a",
    "ab",
    "\xc3\xa9",
    "\xf0\x9f\x98\x80",
    "\n",
    "~0",
    "/",
    "#",
    "#/definitions/a",
    "string",
    "integer",
    "^a",
    "(",
    "[a-",
    "\\d+",
    "1.2.3.4",
    "::1",
    "http://x.org/a?b#c",
    "2020-02-29T10:00:00Z",
    "a@b.co",
    "{x}",
    "0/a",
    "12:00:00+01:00",
    "\\",
    "%zz",
    "[::1]",
    "x.y-z",
    "aaaaaaaaaaaaaaaa",
    "email",
    "date",
    "uri",
    "#foo",
    "object",
    "null",
};

/* A random JSON value of at most nDepth more levels; containers are
** likelier near the top (bTop), so that documents average a few dozen
** values.  bSchema draws keys and strings that make schema-like
** documents. */
static json_t *fuzz_value_at(int nDepth, int bSchema, int bTop) {
  unsigned k = bTop ? 7 + rng_below(5) : rng_below(nDepth > 0 ? 12 : 7);
  switch (k) {
  case 0:
    return json_null();
  case 1:
    return json_boolean(rng_below(2));
  case 2:
    return json_integer((json_int_t)rng_below(21) - 10);
  case 3: {
    static const double aReal[] = {0.5, -1.5, 1e300, -0.0, 0.1,
                                   3.0, 1e-7, 7.25,  2.0,  -1e20};
    return json_real(aReal[rng_below(10)]);
  }
  case 4:
    if (rng_below(4) == 0) {
      return json_integer((json_int_t)(rng_next() >> 1) *
                          (rng_below(2) ? 1 : -1));
    }
    return json_integer((json_int_t)rng_below(4));
  case 5:
  case 6: {
    /* Concatenate a few pieces, keeping valid UTF-8. */
    char zBuf[128];
    size_t n = 0;
    unsigned i, nPiece = rng_below(3) + 1;
    for (i = 0; i < nPiece; i++) {
      const char *z =
          azFuzzStr[rng_below(sizeof(azFuzzStr) / sizeof(azFuzzStr[0]))];
      size_t nz = strlen(z);
      if (n + nz < sizeof(zBuf)) {
        memcpy(zBuf + n, z, nz);
        n += nz;
      }
    }
    return json_stringn(zBuf, n);
  }
  case 7:
  case 8:
  case 9: {
    json_t *p = json_object();
    unsigned i, n = rng_below(6);
    for (i = 0; i < n; i++) {
      const char *zKey =
          bSchema
              ? azSchemaKey[rng_below(sizeof(azSchemaKey) /
                                      sizeof(azSchemaKey[0]))]
              : azFuzzKey[rng_below(sizeof(azFuzzKey) / sizeof(azFuzzKey[0]))];
      json_object_set_new(p, zKey, fuzz_value_at(nDepth - 1, bSchema, 0));
    }
    return p;
  }
  default: {
    json_t *p = json_array();
    unsigned i, n = rng_below(6);
    for (i = 0; i < n; i++) {
      json_array_append_new(p, fuzz_value_at(nDepth - 1, bSchema, 0));
    }
    return p;
  }
  }
}

static json_t *fuzz_value(int nDepth, int bSchema) {
  return fuzz_value_at(nDepth, bSchema, rng_below(4) != 0);
}

/* A message is "<pointer>: <keyword>: <text>" with the pointer empty or
** starting with "/". */
static int fuzz_msg_ok(const char *z) {
  return z != NULL && (z[0] == ':' || z[0] == '/') && strstr(z, ": ") != NULL;
}

static void test_fuzz(void) {
  static const char *const azSchema[] = {
      /* Many keywords at once. */
      "{\"type\":[\"object\",\"array\",\"string\",\"number\",\"null\","
      "\"boolean\"],"
      "\"properties\":{\"a\":{\"type\":\"integer\",\"minimum\":-5,"
      "\"maximum\":100,\"multipleOf\":3},\"b\":{\"$ref\":\"#/definitions/s\"},"
      "\"foo\":{\"items\":{\"$ref\":\"#\"},\"uniqueItems\":true,"
      "\"contains\":{\"type\":\"string\"}}},"
      "\"patternProperties\":{\"^[a-f]\":{\"not\":{\"type\":\"null\"}},"
      "\"\\u00e9\":{\"format\":\"date-time\"}},"
      "\"additionalProperties\":{\"anyOf\":[{\"type\":\"string\","
      "\"pattern\":\"^(a|b)*$\"},{\"type\":\"array\",\"maxItems\":3}]},"
      "\"dependencies\":{\"a\":[\"b\"],\"x\":{\"required\":[\"a\"]}},"
      "\"propertyNames\":{\"maxLength\":3},"
      "\"definitions\":{\"s\":{\"oneOf\":[{\"type\":\"string\",\"minLength\":1,"
      "\"format\":\"email\"},{\"enum\":[1,\"a\",null,[1,2],{\"a\":1}]},"
      "{\"const\":{\"x\":[1.0]}}]}},"
      "\"if\":{\"type\":\"object\",\"required\":[\"x\"]},"
      "\"then\":{\"minProperties\":2},\"else\":{\"maxProperties\":5},"
      "\"allOf\":[{\"items\":[{\"type\":\"number\"},{}],"
      "\"additionalItems\":{\"format\":\"ipv6\"}}]}",
      /* Recursion through references. */
      "{\"definitions\":{\"node\":{\"type\":\"object\",\"properties\":{\"a\":"
      "{\"type\":\"array\",\"items\":{\"$ref\":\"#/definitions/node\"}}},"
      "\"additionalProperties\":{\"type\":[\"string\",\"number\",\"boolean\","
      "\"null\"]}}},\"anyOf\":[{\"$ref\":\"#/definitions/node\"},"
      "{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}]}",
      /* Every format. */
      "{\"additionalProperties\":{\"anyOf\":[{\"format\":\"uri\"},"
      "{\"format\":\"ipv4\"},{\"format\":\"hostname\"},{\"format\":\"regex\"},"
      "{\"format\":\"json-pointer\"},{\"format\":\"time\"},"
      "{\"format\":\"uri-template\"},{\"format\":\"relative-json-pointer\"},"
      "{\"format\":\"iri-reference\"},{\"format\":\"idn-email\"},"
      "{\"format\":\"date\"},{\"format\":\"ipv6\"}]},"
      "\"items\":{\"not\":{\"anyOf\":[{\"format\":\"email\"},"
      "{\"format\":\"uri-reference\"},{\"format\":\"iri\"},"
      "{\"format\":\"date-time\"}]}}}",
      /* The meta-schema: documents as schemas. */
      "{\"$ref\":\"http://json-schema.org/draft-07/schema#\"}",
  };
  enum { N_SCHEMA = sizeof(azSchema) / sizeof(azSchema[0]) };
  thr_schema *ap[N_SCHEMA];
  int i, j, nValid = 0, nInvalid = 0, nCompiled = 0;
  tt_rng_seed(0x5c4e3a);
  for (j = 0; j < N_SCHEMA; j++) {
    ap[j] = compile_ok(azSchema[j]);
    if (ap[j] == NULL) {
      return;
    }
  }
  for (i = 0; i < 50000; i++) {
    json_t *pDoc = fuzz_value(4, 0);
    for (j = 0; j < N_SCHEMA; j++) {
      char *zErr = NULL;
      int rc = thr_schema_check(ap[j], pDoc, &zErr);
      if (rc == SQLITE_OK) {
        nValid++;
        TT_CHECK(zErr == NULL);
      } else {
        nInvalid++;
        TT_CHECK(rc == SQLITE_CONSTRAINT && fuzz_msg_ok(zErr));
      }
      sqlite3_free(zErr);
    }
    json_decref(pDoc);
  }
  /* Random schema-like documents as schemas: compile errors are fine,
  ** crashes and malformed messages are not. */
  for (i = 0; i < 5000; i++) {
    json_t *pSchema = fuzz_value(4, 1);
    json_t *pDoc = fuzz_value(3, 0);
    char *zSchema = json_dumps(pSchema, JSON_ENCODE_ANY | JSON_COMPACT);
    thr_schema *p = NULL;
    char *zErr = NULL;
    int rc = thr_schema_compile(zSchema, &p, &zErr);
    if (rc == SQLITE_OK) {
      nCompiled++;
      rc = thr_schema_check(p, pDoc, &zErr);
      TT_CHECK(rc == SQLITE_OK ||
               (rc == SQLITE_CONSTRAINT && fuzz_msg_ok(zErr)));
      thr_schema_free(p);
    } else {
      TT_CHECK(rc == SQLITE_ERROR && zErr &&
               (strncmp(zErr, "invalid schema: ", 16) == 0 ||
                strncmp(zErr, "schema too complex: ", 20) == 0));
    }
    sqlite3_free(zErr);
    free(zSchema);
    json_decref(pSchema);
    json_decref(pDoc);
  }
  /* Both outcomes must have occurred, or the fuzzing tested little. */
  TT_CHECK(nValid > 1000 && nInvalid > 1000 && nCompiled > 100);
  for (j = 0; j < N_SCHEMA; j++) {
    thr_schema_free(ap[j]);
  }
}

/**************************************************************************
** The bounds on work (schema_limits.c): nesting 128, expansion 100000,
** 2000000 steps per check.  Each hostile case must end, refused when
** compiled or by its check, and every call must return within BOUND_MS on
** the monotonic clock; the slowest call is reported on an INFO line.
** Realistic schemas must validate exactly as before.
*/
#define BOUND_MS 1000.0

static double boundWorst = 0;           /* the slowest call seen, in ms */
static const char *boundWorstWhat = ""; /* and what it was */

static double bound_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* UBSan's runtime, when this build links it (there is no macro for it). */
extern void __ubsan_handle_add_overflow(void) __attribute__((weak));

/* The bound for this build.  Sanitizers and valgrind slow the code under
** test several times over (allocation most); the bound scales with them,
** which still tells "bounded" from "runs for minutes". */
static double bound_ms(void) {
  const char *z = getenv("LD_PRELOAD");
  if (z != NULL && strstr(z, "vgpreload") != NULL) {
    return BOUND_MS * 50; /* valgrind */
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return BOUND_MS * 10;
#else
  return __ubsan_handle_add_overflow != NULL ? BOUND_MS * 10 : BOUND_MS;
#endif
}

/* Record the time of one call, which must be within the bound. */
static void bound_time(double ms, const char *zWhat) {
  if (ms > boundWorst) {
    boundWorst = ms;
    boundWorstWhat = zWhat;
  }
  if (ms >= bound_ms()) {
    printf("  %s took %.0f ms\n", zWhat, ms);
  }
  TT_CHECK(ms < bound_ms());
}

/* Compile zSchema, timed.  Returns the error (sqlite3_malloc'd), or NULL
** with the schema in *pp. */
static char *bound_compile(const char *zSchema, thr_schema **pp,
                           const char *zWhat) {
  char *zErr = NULL;
  double t = bound_now();
  int rc = thr_schema_compile(zSchema, pp, &zErr);
  bound_time(bound_now() - t, zWhat);
  TT_CHECK((rc == SQLITE_OK && zErr == NULL && *pp != NULL) ||
           (rc == SQLITE_ERROR && zErr != NULL && *pp == NULL));
  return zErr;
}

/* Check pDoc, timed: the message (sqlite3_malloc'd), NULL if valid. */
static char *bound_check(const thr_schema *p, const json_t *pDoc,
                         const char *zWhat) {
  char *zErr = NULL;
  double t = bound_now();
  int rc = thr_schema_check(p, pDoc, &zErr);
  bound_time(bound_now() - t, zWhat);
  TT_CHECK((rc == SQLITE_OK && zErr == NULL) ||
           (rc == SQLITE_CONSTRAINT && zErr != NULL));
  return zErr;
}

/* Compile zSchema, which must compile, and check pDoc twice: the same
** verdict both times (the budget counts, it does not time).  Returns the
** message (sqlite3_malloc'd) or NULL if valid; consumes pDoc. */
static char *bound_run(const char *zSchema, json_t *pDoc, const char *zWhat) {
  thr_schema *p = NULL;
  char *zErr = bound_compile(zSchema, &p, zWhat), *zErr2;
  if (zErr) {
    printf("  %s: %s\n", zWhat, zErr);
    sqlite3_free(zErr);
    json_decref(pDoc);
    return sqlite3_mprintf("(did not compile)");
  }
  zErr = bound_check(p, pDoc, zWhat);
  zErr2 = bound_check(p, pDoc, zWhat);
  TT_STREQ(zErr ? zErr : "(valid)", zErr2 ? zErr2 : "(valid)");
  sqlite3_free(zErr2);
  thr_schema_free(p);
  json_decref(pDoc);
  return zErr;
}

/* The message of a check that ran out of steps ends so. */
static const char zTooCostly[] =
    ": validation too costly: more than 2000000 steps (limit 2000000)";

static int bound_too_costly(const char *z) {
  size_t n = z ? strlen(z) : 0, nEnd = sizeof(zTooCostly) - 1;
  return n > nEnd && strcmp(z + n - nEnd, zTooCostly) == 0;
}

/* JSON text of the schema whose definition d<i> applies d<i-1> twice
** through allOf, i = 1..n: 2^n paths from the root to d0. */
static char *bound_fanout(int n) {
  sqlite3_str *p = sqlite3_str_new(NULL);
  int i;
  sqlite3_str_appendall(p, "{\"definitions\":{\"d0\":{\"type\":\"integer\"}");
  for (i = 1; i <= n; i++) {
    sqlite3_str_appendf(p,
                        ",\"d%d\":{\"allOf\":[{\"$ref\":\"#/definitions/d%d\"},"
                        "{\"$ref\":\"#/definitions/d%d\"}]}",
                        i, i - 1, i - 1);
  }
  sqlite3_str_appendf(p, "},\"$ref\":\"#/definitions/d%d\"}", n);
  return sqlite3_str_finish(p);
}

/* A run of n copies of z. */
static char *bound_repeat(const char *z, int n) {
  sqlite3_str *p = sqlite3_str_new(NULL);
  int i;
  for (i = 0; i < n; i++) {
    sqlite3_str_appendall(p, z);
  }
  return sqlite3_str_finish(p);
}

/* 2^26 and 2^40 paths through "$ref" fan-out are refused when compiled;
** 2^14 is under the cap, compiles, and checks quickly. */
static void test_bound_ref_fanout(void) {
  static const int aLevel[] = {26, 40, 16};
  int i;
  for (i = 0; i < 3; i++) {
    char *zSchema = bound_fanout(aLevel[i]);
    thr_schema *p = NULL;
    char *zErr = bound_compile(zSchema, &p, "compile a $ref fan-out");
    /* The expansion of d<i> is 2^(i+2) - 3: d15 is the first past 100000,
    ** whatever the number of levels above it. */
    TT_STREQ(zErr, "schema too complex: /definitions/d15: expands to more "
                   "than 100000 subschemas through $ref and applicators "
                   "(limit 100000)");
    if (p) {
      json_t *pDoc = json_integer(1);
      sqlite3_free(bound_check(p, pDoc, "check a $ref fan-out"));
      json_decref(pDoc);
      thr_schema_free(p);
    }
    sqlite3_free(zErr);
    sqlite3_free(zSchema);
  }
  {
    char *zSchema = bound_fanout(14);
    char *zWant = bound_repeat(": allOf: subschema 0 failed: ", 14);
    char *zGot, *zFull;
    zGot = bound_run(zSchema, json_integer(1), "2^14 $ref paths");
    TT_STREQ(zGot ? zGot : "(valid)", "(valid)");
    sqlite3_free(zGot);
    zGot = bound_run(zSchema, json_string("x"), "2^14 $ref paths");
    zFull = sqlite3_mprintf("%s: type: expected integer, got string", zWant);
    TT_STREQ(zGot, zFull);
    sqlite3_free(zGot);
    sqlite3_free(zFull);
    sqlite3_free(zWant);
    sqlite3_free(zSchema);
  }
}

/* anyOf/not nested 22 deep: through "$ref" with three uses a level it is
** 3^22 paths, refused; written out inline it is a plain (if deep) schema
** that compiles and checks as before; nested past 128 levels it is
** refused. */
static void test_bound_anyof_not(void) {
  sqlite3_str *pStr;
  char *zSchema, *zErr, *zGot;
  thr_schema *p = NULL;
  int i;

  pStr = sqlite3_str_new(NULL);
  sqlite3_str_appendall(pStr, "{\"definitions\":{\"d0\":{\"type\":\"string\"}");
  for (i = 1; i <= 22; i++) {
    sqlite3_str_appendf(pStr,
                        ",\"d%d\":{\"anyOf\":[{\"not\":{\"$ref\":"
                        "\"#/definitions/d%d\"}},{\"not\":{\"$ref\":"
                        "\"#/definitions/d%d\"}},{\"$ref\":"
                        "\"#/definitions/d%d\"}]}",
                        i, i - 1, i - 1, i - 1);
  }
  sqlite3_str_appendall(pStr, "},\"$ref\":\"#/definitions/d22\"}");
  zSchema = sqlite3_str_finish(pStr);
  zErr = bound_compile(zSchema, &p, "compile anyOf/not 3^22");
  /* E(d<i>) = 6 + 3 E(d<i-1>), E(d0) = 1: d10 is 236193. */
  TT_STREQ(zErr, "schema too complex: /definitions/d10: expands to more "
                 "than 100000 subschemas through $ref and applicators "
                 "(limit 100000)");
  if (p) {
    json_t *pDoc = json_string("x");
    sqlite3_free(bound_check(p, pDoc, "check anyOf/not 3^22"));
    json_decref(pDoc);
    thr_schema_free(p);
  }
  sqlite3_free(zErr);
  sqlite3_free(zSchema);

  /* s<i> = {"not":{"anyOf":[{"type":"null"},{"not":s<i-1>}]}}: valid
  ** exactly when s<i-1> is and the value is not null; s0 is a string. */
  zSchema = sqlite3_mprintf("%s", "{\"type\":\"string\"}");
  for (i = 1; i <= 50; i++) {
    char *zNext = sqlite3_mprintf(
        "{\"not\":{\"anyOf\":[{\"type\":\"null\"},{\"not\":%s}]}}", zSchema);
    sqlite3_free(zSchema);
    zSchema = zNext;
    if (i == 22) {
      zGot = bound_run(zSchema, json_string("x"), "inline anyOf/not 22");
      TT_STREQ(zGot ? zGot : "(valid)", "(valid)");
      sqlite3_free(zGot);
      zGot = bound_run(zSchema, json_integer(1), "inline anyOf/not 22");
      TT_STREQ(zGot, ": not: the value must not match the schema");
      sqlite3_free(zGot);
    }
  }
  /* Three levels an iteration: the 129th level is reached inside the
  ** 43rd, at the first subschema of its anyOf. */
  zErr = bound_compile(zSchema, &p, "compile inline anyOf/not 50");
  {
    char *zLoc = bound_repeat("/not/anyOf/1/not", 42);
    char *zWant = sqlite3_mprintf("schema too complex: %s/not/anyOf/0: "
                                  "subschemas nested deeper than 128 levels "
                                  "(limit 128)",
                                  zLoc);
    TT_STREQ(zErr, zWant);
    sqlite3_free(zWant);
    sqlite3_free(zLoc);
  }
  thr_schema_free(p);
  sqlite3_free(zErr);
  sqlite3_free(zSchema);
}

/* Fan-out that only recursion on the instance reveals: each level of
** nested arrays applies the definition twice.  It compiles (the static
** expansion is small); checking 40 levels would be 2^40 applications, and
** runs out of steps instead, with the same message every time. */
static void test_bound_recursion(void) {
  static const char zSchema[] =
      "{\"definitions\":{\"a\":{\"items\":{\"allOf\":["
      "{\"$ref\":\"#/definitions/a\"},{\"$ref\":\"#/definitions/a\"}]}}},"
      "\"$ref\":\"#/definitions/a\"}";
  static const char zTree[] =
      "{\"type\":\"object\",\"required\":[\"v\"],\"properties\":{"
      "\"v\":{\"type\":\"integer\"},"
      "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}}}";
  json_t *pDoc = json_array(), *pInner = pDoc;
  char *zGot;
  int i;
  for (i = 1; i < 40; i++) {
    json_t *pNew = json_array();
    json_array_append_new(pInner, pNew);
    pInner = pNew;
  }
  zGot = bound_run(zSchema, pDoc, "2^40 applications by recursion");
  TT_CHECK(bound_too_costly(zGot));
  TT_CHECK(zGot && strncmp(zGot, "/0/0/0/0/0/0/0/0/0/0", 20) == 0);
  sqlite3_free(zGot);

  /* A real recursive schema: a tree of 3^8 nodes, 8 levels deep. */
  {
    json_t *aLevel[9];
    int k;
    aLevel[0] = json_pack("{s:i}", "v", 0);
    for (k = 1; k <= 8; k++) {
      aLevel[k] = json_pack("{s:i,s:[O,O,O]}", "v", k, "kids", aLevel[k - 1],
                            aLevel[k - 1], aLevel[k - 1]);
      json_decref(aLevel[k - 1]);
    }
    zGot = bound_run(zTree, json_incref(aLevel[8]), "a tree of 3^8 nodes");
    TT_STREQ(zGot ? zGot : "(valid)", "(valid)");
    sqlite3_free(zGot);
    json_object_set_new(aLevel[8], "v", json_string("8"));
    zGot = bound_run(zTree, aLevel[8], "a tree of 3^8 nodes");
    TT_STREQ(zGot, "/v: type: expected integer, got string");
    sqlite3_free(zGot);
  }
}

/* Catastrophic backtracking stops at the budget; pcre2's depth limit
** holds; ordinary patterns on many strings are unaffected. */
static void test_bound_regex(void) {
  char *zA, *zGot;
  json_t *pArr;
  int i;

  /* One string: 2^30 ways to split 30 a's before the "!" fails. */
  zA = bound_repeat("a", 30);
  zGot = bound_run("{\"pattern\":\"^(a+)+$\"}", json_sprintf("%s!", zA),
                   "^(a+)+$ on 30 a's and !");
  TT_STREQ(zGot, ": pattern: validation too costly: more than 2000000 steps "
                 "(limit 2000000)");
  sqlite3_free(zGot);
  sqlite3_free(zA);

  /* Unanchored: pcre2's match limit starts afresh at each start position
  ** (100 segments of 2^18 each); the budget does not. */
  zA = bound_repeat("aaaaaaaaaaaaaaaaaa!", 100);
  zGot = bound_run("{\"pattern\":\"(a+)+$\"}", json_string(zA),
                   "(a+)+$ unanchored");
  TT_STREQ(zGot, ": pattern: validation too costly: more than 2000000 steps "
                 "(limit 2000000)");
  sqlite3_free(zGot);
  sqlite3_free(zA);

  /* Many strings, each below any per-match limit (2^17 ways), together
  ** past the budget ("not", so that a failed match goes on to the next). */
  pArr = json_array();
  for (i = 0; i < 1000; i++) {
    json_array_append_new(pArr, json_string("aaaaaaaaaaaaaaaaa!"));
  }
  zGot = bound_run("{\"items\":{\"not\":{\"pattern\":\"^(a+)+$\"}}}", pArr,
                   "^(a+)+$ on 1000 strings");
  TT_CHECK(bound_too_costly(zGot));
  TT_CHECK(zGot && zGot[0] == '/' && strstr(zGot, ": pattern: ") != NULL);
  sqlite3_free(zGot);

  /* 150,000 iterations of a group nest as deep: pcre2's depth limit. */
  zA = bound_repeat("ab", 75000);
  zGot = bound_run("{\"pattern\":\"^(?:a|b)*$\"}", json_sprintf("%s!", zA),
                   "^(?:a|b)*$ on 150,000 characters");
  TT_STREQ(zGot, ": pattern: regular expression too costly: matching depth "
                 "limit exceeded (limit 100000)");
  sqlite3_free(zGot);
  /* 20,000 nest well within it. */
  zA[20000] = 0;
  zGot = bound_run("{\"pattern\":\"^(?:a|b)*$\"}", json_string(zA),
                   "^(?:a|b)*$ on 20,000 characters");
  TT_STREQ(zGot ? zGot : "(valid)", "(valid)");
  sqlite3_free(zGot);
  sqlite3_free(zA);

  /* Ordinary patterns and patternProperties on 5000 values. */
  pArr = json_array();
  for (i = 0; i < 5000; i++) {
    json_array_append_new(pArr, json_pack("{s:s%,s:i}", "mail",
                                          "someone.else@example.org",
                                          (size_t)24, "k_1", i));
  }
  zGot = bound_run("{\"items\":{\"properties\":{\"mail\":{\"pattern\":"
                   "\"^[a-z.]+@[a-z]+\\\\.[a-z]{2,}$\"}},"
                   "\"patternProperties\":{\"^k_[0-9]$\":{\"minimum\":0}},"
                   "\"additionalProperties\":false}}",
                   pArr, "ordinary patterns on 5000 objects");
  TT_STREQ(zGot ? zGot : "(valid)", "(valid)");
  sqlite3_free(zGot);
}

/* uniqueItems on 10,000 items is n log n, and items that collide in the
** hash cost steps. */
static void test_bound_unique(void) {
  json_t *pArr;
  char *zGot, *zBig;
  int i;

  pArr = json_array();
  for (i = 0; i < 10000; i++) {
    json_array_append_new(pArr, json_integer(i * 7919));
  }
  zGot = bound_run("{\"uniqueItems\":true}", json_incref(pArr),
                   "10,000 distinct integers");
  TT_STREQ(zGot ? zGot : "(valid)", "(valid)");
  sqlite3_free(zGot);
  json_array_set_new(pArr, 9999, json_integer(5000 * 7919));
  zGot = bound_run("{\"uniqueItems\":true}", pArr, "10,000 integers, a pair");
  TT_STREQ(zGot, ": uniqueItems: items 5000 and 9999 are equal");
  sqlite3_free(zGot);

  /* Pairs of distinct integers near 2^62 that round to one double. */
  pArr = json_array();
  for (i = 0; i < 10000; i++) {
    json_array_append_new(
        pArr, json_pack("[I,I]", (json_int_t)(4611686018427387904LL + i / 100),
                        (json_int_t)(4611686018427387904LL + i % 100)));
  }
  zGot = bound_run("{\"uniqueItems\":true}", pArr,
                   "10,000 pairs of large integers");
  TT_STREQ(zGot ? zGot : "(valid)", "(valid)");
  sqlite3_free(zGot);

  /* 40 MB of strings to hash: past the budget. */
  zBig = bound_repeat("0123456789abcdef", 1250);
  pArr = json_array();
  for (i = 0; i < 2000; i++) {
    json_array_append_new(pArr, json_sprintf("%d%s", i, zBig));
  }
  zGot = bound_run("{\"uniqueItems\":true}", pArr, "2000 strings of 20 kB");
  TT_STREQ(zGot, ": uniqueItems: validation too costly: more than 2000000 "
                 "steps (limit 2000000)");
  sqlite3_free(zGot);
  sqlite3_free(zBig);
}

/* Huge lengths and multipleOf: scans of long strings are charged;
** numbers as before. */
static void test_bound_scalars(void) {
  sqlite3_str *pStr;
  char *zSchema, *zBig, *zGot;
  json_t *pArr;
  int i;

  /* 2000 length checks of a 1 MB string. */
  pStr = sqlite3_str_new(NULL);
  sqlite3_str_appendall(pStr, "{\"allOf\":[{\"maxLength\":1000000000000}");
  for (i = 1; i < 2000; i++) {
    sqlite3_str_appendall(pStr, ",{\"maxLength\":1000000000000}");
  }
  sqlite3_str_appendall(pStr, "]}");
  zSchema = sqlite3_str_finish(pStr);
  zBig = bound_repeat("x", 1000000);
  zGot = bound_run(zSchema, json_string(zBig), "2000 maxLength of 1 MB");
  TT_STREQ(zGot, ": maxLength: validation too costly: more than 2000000 "
                 "steps (limit 2000000)");
  sqlite3_free(zGot);
  sqlite3_free(zBig);
  sqlite3_free(zSchema);

  zGot = bound_run("{\"minLength\":1000000000000000000}", json_string("a"),
                   "huge minLength");
  TT_STREQ(zGot, ": minLength: string has 1 character, at least "
                 "1000000000000000000 required");
  sqlite3_free(zGot);

  /* 10,000 prices, multiples of 0.01; 5000 numbers of 1e308 over 1e-300. */
  pArr = json_array();
  for (i = 0; i < 10000; i++) {
    json_array_append_new(pArr, json_real((double)(123456 + i) / 100));
  }
  zGot = bound_run("{\"items\":{\"multipleOf\":0.01}}", pArr,
                   "10,000 multipleOf 0.01");
  TT_STREQ(zGot ? zGot : "(valid)", "(valid)");
  sqlite3_free(zGot);
  pArr = json_array();
  for (i = 0; i < 5000; i++) {
    json_array_append_new(pArr, json_real(1e308));
  }
  zGot = bound_run("{\"items\":{\"multipleOf\":1e-300}}", json_incref(pArr),
                   "5000 multipleOf 1e-300");
  TT_STREQ(zGot ? zGot : "(valid)", "(valid)");
  sqlite3_free(zGot);
  zGot = bound_run("{\"items\":{\"multipleOf\":3e-300}}", pArr,
                   "5000 multipleOf 3e-300");
  TT_STREQ(zGot, "/0: multipleOf: 1e+308 is not a multiple of 3e-300");
  sqlite3_free(zGot);
  /* Subnormals at their shortest text too: 1e-323 is twice 5e-324. */
  CHECK_VALID("{\"multipleOf\":5e-324}", "1e-323");
  CHECK_FAILS("{\"multipleOf\":1e-323}", "5e-324",
              ": multipleOf: 5e-324 is not a multiple of 1e-323");
}

/* Compiling is linear in the schema: long "required" arrays are checked
** for duplicates by sorting, "$id"s are found by hashing. */
static void test_bound_compile_cost(void) {
  sqlite3_str *pStr;
  char *zSchema, *zErr;
  thr_schema *p = NULL;
  int i;

  pStr = sqlite3_str_new(NULL);
  sqlite3_str_appendall(pStr, "{\"required\":[\"n0\"");
  for (i = 1; i < 50000; i++) {
    sqlite3_str_appendf(pStr, ",\"n%d\"", i);
  }
  sqlite3_str_appendall(pStr, "]}");
  zSchema = sqlite3_str_finish(pStr);
  zErr = bound_compile(zSchema, &p, "required with 50,000 names");
  TT_CHECK(zErr == NULL);
  thr_schema_free(p);
  sqlite3_free(zErr);
  /* The same with a repeat at the end, and a non-string after it. */
  zSchema[strlen(zSchema) - 2] = 0;
  {
    char *zDup = sqlite3_mprintf("%s,\"n7\",5]}", zSchema);
    zErr = bound_compile(zDup, &p, "required with a duplicate");
    TT_STREQ(zErr, "invalid schema: /required/50000: duplicate name \"n7\"");
    sqlite3_free(zErr);
    sqlite3_free(zDup);
  }
  sqlite3_free(zSchema);

  pStr = sqlite3_str_new(NULL);
  sqlite3_str_appendall(pStr, "{\"definitions\":{\"d0\":{}");
  for (i = 1; i < 20000; i++) {
    sqlite3_str_appendf(pStr,
                        ",\"d%d\":{\"$id\":\"#a_rather_long_name_for_a_"
                        "definition_%d\",\"type\":\"integer\"}",
                        i, i);
  }
  sqlite3_str_appendall(pStr, "},\"properties\":{\"p0\":{}");
  for (i = 1; i < 20000; i++) {
    sqlite3_str_appendf(
        pStr, ",\"p%d\":{\"$ref\":\"#a_rather_long_name_for_a_definition_%d\"}",
        i, i);
  }
  sqlite3_str_appendall(pStr, "}}");
  zSchema = sqlite3_str_finish(pStr);
  zErr = bound_compile(zSchema, &p, "20,000 $ids and $refs");
  TT_CHECK(zErr == NULL);
  if (p) {
    json_t *pDoc = json_pack("{s:i,s:s}", "p1", 1, "p19999", "x");
    char *zGot = bound_check(p, pDoc, "20,000 $ids and $refs");
    TT_STREQ(zGot, "/p19999: type: expected integer, got string");
    sqlite3_free(zGot);
    json_decref(pDoc);
  }
  thr_schema_free(p);
  sqlite3_free(zErr);
  sqlite3_free(zSchema);

  /* A schema of unreferenced definitions still has a bound. */
  pStr = sqlite3_str_new(NULL);
  sqlite3_str_appendall(pStr, "{\"definitions\":{\"d0\":{}");
  for (i = 1; i < 100000; i++) {
    sqlite3_str_appendf(pStr, ",\"d%d\":{}", i);
  }
  sqlite3_str_appendall(pStr, "}}");
  zSchema = sqlite3_str_finish(pStr);
  zErr = bound_compile(zSchema, &p, "100,000 definitions");
  TT_STREQ(zErr, "schema too complex: /definitions/d99999: more than 100000 "
                 "subschemas (limit 100000)");
  sqlite3_free(zErr);
  sqlite3_free(zSchema);
}

/* A realistic schema: objects nested five levels (company, employees,
** person, address, geo), a dozen "$ref"s, formats, patterns, enums.  The
** expected messages follow the rules of schema_check.c. */
static void test_bound_realistic(void) {
  static const char zSchema[] =
      "{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
      "\"definitions\":{"
      "\"geo\":{\"type\":\"object\",\"required\":[\"lat\",\"lng\"],"
      "\"properties\":{\"lat\":{\"type\":\"number\",\"minimum\":-90,"
      "\"maximum\":90},\"lng\":{\"type\":\"number\",\"minimum\":-180,"
      "\"maximum\":180}},\"additionalProperties\":false},"
      "\"address\":{\"type\":\"object\",\"required\":[\"city\"],"
      "\"properties\":{\"street\":{\"type\":\"string\"},"
      "\"city\":{\"type\":\"string\",\"minLength\":1},"
      "\"zip\":{\"type\":\"string\",\"pattern\":\"^[0-9]{5}$\"},"
      "\"geo\":{\"$ref\":\"#/definitions/geo\"}}},"
      "\"contact\":{\"type\":\"object\",\"required\":[\"kind\",\"value\"],"
      "\"properties\":{\"kind\":{\"enum\":[\"email\",\"phone\"]},"
      "\"value\":{\"type\":\"string\"}},"
      "\"if\":{\"properties\":{\"kind\":{\"const\":\"email\"}}},"
      "\"then\":{\"properties\":{\"value\":{\"format\":\"email\"}}}},"
      "\"person\":{\"type\":\"object\",\"required\":[\"name\"],"
      "\"properties\":{\"name\":{\"type\":\"string\"},"
      "\"born\":{\"type\":\"string\",\"format\":\"date\"},"
      "\"home\":{\"$ref\":\"#/definitions/address\"},"
      "\"work\":{\"anyOf\":[{\"$ref\":\"#/definitions/address\"},"
      "{\"type\":\"null\"}]},"
      "\"contacts\":{\"type\":\"array\",\"items\":"
      "{\"$ref\":\"#/definitions/contact\"},\"uniqueItems\":true},"
      "\"manager\":{\"oneOf\":[{\"$ref\":\"#/definitions/person\"},"
      "{\"type\":\"null\"}]}}},"
      "\"company\":{\"type\":\"object\",\"required\":[\"name\",\"hq\"],"
      "\"properties\":{\"name\":{\"type\":\"string\"},"
      "\"hq\":{\"$ref\":\"#/definitions/address\"},"
      "\"sites\":{\"type\":\"array\",\"items\":"
      "{\"$ref\":\"#/definitions/address\"}},"
      "\"employees\":{\"type\":\"array\",\"items\":"
      "{\"$ref\":\"#/definitions/person\"}},"
      "\"ceo\":{\"$ref\":\"#/definitions/person\"}}}},"
      "\"type\":\"object\",\"required\":[\"_id\",\"company\"],"
      "\"properties\":{\"_id\":{\"type\":\"string\"},"
      "\"company\":{\"$ref\":\"#/definitions/company\"},"
      "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
      "\"maxItems\":10}}}";
  static const char zGood[] =
      "{\"_id\":\"c1\",\"tags\":[\"a\",\"b\"],\"company\":{\"name\":\"Acme\","
      "\"hq\":{\"city\":\"Paris\",\"zip\":\"75001\",\"geo\":{\"lat\":48.86,"
      "\"lng\":2.35}},\"sites\":[{\"city\":\"Lyon\"}],"
      "\"employees\":[{\"name\":\"Ada\",\"born\":\"1815-12-10\","
      "\"home\":{\"city\":\"London\",\"geo\":{\"lat\":51.5,\"lng\":-0.12}},"
      "\"work\":null,\"contacts\":[{\"kind\":\"email\",\"value\":"
      "\"ada@example.org\"},{\"kind\":\"phone\",\"value\":\"+44 1\"}],"
      "\"manager\":{\"name\":\"Charles\",\"manager\":null}}]}}";
  static const struct {
    const char *zPath; /* JSON pointer of the change, "" for none */
    const char *zValue;
    const char *zWant;
  } aCase[] = {
      {"", "", "(valid)"},
      {"/company/employees/0/home/geo/lat", "91",
       "/company/employees/0/home/geo/lat: maximum: 91 is greater than 90"},
      {"/company/employees/0/home/geo/alt", "1",
       "/company/employees/0/home/geo: additionalProperties: property "
       "\"alt\" is not allowed"},
      {"/company/hq/zip", "\"7500\"",
       "/company/hq/zip: pattern: \"7500\" does not match \"^[0-9]{5}$\""},
      {"/company/employees/0/contacts/0/value", "\"ada\"",
       "/company/employees/0/contacts/0/value: format: \"ada\" is not a "
       "valid email"},
      {"/company/employees/0/contacts/1/kind", "\"fax\"",
       "/company/employees/0/contacts/1/kind: enum: \"fax\" is not one of "
       "[\"email\",\"phone\"]"},
      {"/company/employees/0/work", "{}",
       "/company/employees/0/work: anyOf: the value matches none of the 2 "
       "subschemas"},
      {"/company/employees/0/manager/manager", "{\"name\":1}",
       "/company/employees/0/manager: oneOf: the value matches none of the "
       "2 subschemas"},
      {"/company/employees/0/born", "\"1815-02-30\"",
       "/company/employees/0/born: format: \"1815-02-30\" is not a valid "
       "date"},
      {"/company/sites/0/city", "\"\"",
       "/company/sites/0/city: minLength: string has 0 characters, at least "
       "1 required"},
      {"/company/hq", "null", "/company/hq: type: expected object, got null"},
  };
  thr_schema *p = compile_ok(zSchema);
  size_t k;
  if (p == NULL) {
    return;
  }
  for (k = 0; k < sizeof(aCase) / sizeof(aCase[0]); k++) {
    json_error_t err;
    json_t *pDoc = json_loads(zGood, 0, &err);
    char *zGot;
    if (aCase[k].zPath[0]) {
      /* Set the member named by the pointer's last token. */
      char *zParent = sqlite3_mprintf("%s", aCase[k].zPath);
      char *zLast = strrchr(zParent, '/');
      json_t *pAt = pDoc,
             *pVal = json_loads(aCase[k].zValue, JSON_DECODE_ANY, &err);
      char *zTok = zParent + 1;
      *zLast = 0;
      while (*zTok && pAt) {
        char *zEnd = strchr(zTok, '/');
        if (zEnd) {
          *zEnd = 0;
        }
        pAt = json_is_array(pAt) ? json_array_get(pAt, (size_t)atoi(zTok))
                                 : json_object_get(pAt, zTok);
        zTok = zEnd ? zEnd + 1 : zTok + strlen(zTok);
      }
      TT_CHECK(pAt != NULL && pVal != NULL);
      if (json_is_array(pAt)) {
        json_array_set_new(pAt, (size_t)atoi(zLast + 1), pVal);
      } else {
        json_object_set_new(pAt, zLast + 1, pVal);
      }
      sqlite3_free(zParent);
    }
    zGot = bound_check(p, pDoc, "a realistic schema");
    TT_STREQ(zGot ? zGot : "(valid)", aCase[k].zWant);
    sqlite3_free(zGot);
    json_decref(pDoc);
  }
  thr_schema_free(p);
}

/* With an argument, only the case of that name runs (without the suite):
** "test_schema test_bound_regex". */
static const char *zOnly = NULL;
#define RUN(fn)                                                                \
  do {                                                                         \
    if (zOnly == NULL || strcmp(zOnly, #fn) == 0) {                            \
      TT_RUN(fn);                                                              \
    }                                                                          \
  } while (0)

int main(int argc, char **argv) {
  zOnly = argc > 1 ? argv[1] : NULL;
  oom_install();
  if (zOnly == NULL) {
    run_suite();
  }
  RUN(test_msg_header_examples);
  RUN(test_msg_pointer);
  RUN(test_msg_scalars);
  RUN(test_msg_containers);
  RUN(test_msg_combinators);
  RUN(test_msg_order);
  RUN(test_msg_refs);
  RUN(test_unique_long);
  RUN(test_invalid_schemas);
  RUN(test_schema_json);
  RUN(test_pattern_unicode);
  RUN(test_ref_cycle);
  RUN(test_oom);
  RUN(test_fuzz);
  RUN(test_bound_ref_fanout);
  RUN(test_bound_anyof_not);
  RUN(test_bound_recursion);
  RUN(test_bound_regex);
  RUN(test_bound_unique);
  RUN(test_bound_scalars);
  RUN(test_bound_compile_cost);
  RUN(test_bound_realistic);
  printf("INFO bounds: slowest call %.1f ms (%s), bound %.0f ms\n", boundWorst,
         boundWorstWhat, bound_ms());
  return tt_done();
}
