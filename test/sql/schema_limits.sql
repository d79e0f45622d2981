-- The bounds of core/schema_limits.c, as the SQL user meets them: a schema
-- past a static bound is refused with "schema too complex: ... (limit N)",
-- a document whose check runs out of steps with "validation too costly".
SELECT length(threads_create('notes'));
-- 2^40 paths through $ref: refused when defined.
CREATE VIRTUAL TABLE fan USING threads(thread='notes', schema='{"definitions":{"d0":{"type":"integer"},
  "d1":{"allOf":[{"$ref":"#/definitions/d0"},{"$ref":"#/definitions/d0"}]},
  "d2":{"allOf":[{"$ref":"#/definitions/d1"},{"$ref":"#/definitions/d1"}]},
  "d3":{"allOf":[{"$ref":"#/definitions/d2"},{"$ref":"#/definitions/d2"}]},
  "d4":{"allOf":[{"$ref":"#/definitions/d3"},{"$ref":"#/definitions/d3"}]},
  "d5":{"allOf":[{"$ref":"#/definitions/d4"},{"$ref":"#/definitions/d4"}]},
  "d6":{"allOf":[{"$ref":"#/definitions/d5"},{"$ref":"#/definitions/d5"}]},
  "d7":{"allOf":[{"$ref":"#/definitions/d6"},{"$ref":"#/definitions/d6"}]},
  "d8":{"allOf":[{"$ref":"#/definitions/d7"},{"$ref":"#/definitions/d7"}]},
  "d9":{"allOf":[{"$ref":"#/definitions/d8"},{"$ref":"#/definitions/d8"}]},
  "d10":{"allOf":[{"$ref":"#/definitions/d9"},{"$ref":"#/definitions/d9"}]},
  "d11":{"allOf":[{"$ref":"#/definitions/d10"},{"$ref":"#/definitions/d10"}]},
  "d12":{"allOf":[{"$ref":"#/definitions/d11"},{"$ref":"#/definitions/d11"}]},
  "d13":{"allOf":[{"$ref":"#/definitions/d12"},{"$ref":"#/definitions/d12"}]},
  "d14":{"allOf":[{"$ref":"#/definitions/d13"},{"$ref":"#/definitions/d13"}]},
  "d15":{"allOf":[{"$ref":"#/definitions/d14"},{"$ref":"#/definitions/d14"}]},
  "d16":{"allOf":[{"$ref":"#/definitions/d15"},{"$ref":"#/definitions/d15"}]},
  "d17":{"allOf":[{"$ref":"#/definitions/d16"},{"$ref":"#/definitions/d16"}]},
  "d18":{"allOf":[{"$ref":"#/definitions/d17"},{"$ref":"#/definitions/d17"}]},
  "d19":{"allOf":[{"$ref":"#/definitions/d18"},{"$ref":"#/definitions/d18"}]},
  "d20":{"allOf":[{"$ref":"#/definitions/d19"},{"$ref":"#/definitions/d19"}]},
  "d21":{"allOf":[{"$ref":"#/definitions/d20"},{"$ref":"#/definitions/d20"}]},
  "d22":{"allOf":[{"$ref":"#/definitions/d21"},{"$ref":"#/definitions/d21"}]},
  "d23":{"allOf":[{"$ref":"#/definitions/d22"},{"$ref":"#/definitions/d22"}]},
  "d24":{"allOf":[{"$ref":"#/definitions/d23"},{"$ref":"#/definitions/d23"}]},
  "d25":{"allOf":[{"$ref":"#/definitions/d24"},{"$ref":"#/definitions/d24"}]},
  "d26":{"allOf":[{"$ref":"#/definitions/d25"},{"$ref":"#/definitions/d25"}]},
  "d27":{"allOf":[{"$ref":"#/definitions/d26"},{"$ref":"#/definitions/d26"}]},
  "d28":{"allOf":[{"$ref":"#/definitions/d27"},{"$ref":"#/definitions/d27"}]},
  "d29":{"allOf":[{"$ref":"#/definitions/d28"},{"$ref":"#/definitions/d28"}]},
  "d30":{"allOf":[{"$ref":"#/definitions/d29"},{"$ref":"#/definitions/d29"}]},
  "d31":{"allOf":[{"$ref":"#/definitions/d30"},{"$ref":"#/definitions/d30"}]},
  "d32":{"allOf":[{"$ref":"#/definitions/d31"},{"$ref":"#/definitions/d31"}]},
  "d33":{"allOf":[{"$ref":"#/definitions/d32"},{"$ref":"#/definitions/d32"}]},
  "d34":{"allOf":[{"$ref":"#/definitions/d33"},{"$ref":"#/definitions/d33"}]},
  "d35":{"allOf":[{"$ref":"#/definitions/d34"},{"$ref":"#/definitions/d34"}]},
  "d36":{"allOf":[{"$ref":"#/definitions/d35"},{"$ref":"#/definitions/d35"}]},
  "d37":{"allOf":[{"$ref":"#/definitions/d36"},{"$ref":"#/definitions/d36"}]},
  "d38":{"allOf":[{"$ref":"#/definitions/d37"},{"$ref":"#/definitions/d37"}]},
  "d39":{"allOf":[{"$ref":"#/definitions/d38"},{"$ref":"#/definitions/d38"}]},
  "d40":{"allOf":[{"$ref":"#/definitions/d39"},{"$ref":"#/definitions/d39"}]}},
 "$ref":"#/definitions/d40"}');
SELECT count(*) FROM sqlite_schema WHERE name LIKE 'fan%';
-- The same text built by a query: threads_schema_valid and threads_alter.
CREATE TEMP TABLE hostile(name TEXT PRIMARY KEY, schema TEXT);
INSERT INTO hostile SELECT 'fan40', '{"definitions":{' || group_concat('"d' || value || '":' || CASE value WHEN 0 THEN '{"type":"integer"}' ELSE '{"allOf":[{"$ref":"#/definitions/d' || (value - 1) || '"},{"$ref":"#/definitions/d' || (value - 1) || '"}]}' END, ',') || '},"$ref":"#/definitions/d40"}' FROM generate_series(0, 40);
INSERT INTO hostile SELECT 'anyof_not22', '{"definitions":{' || group_concat('"d' || value || '":' || CASE value WHEN 0 THEN '{"type":"string"}' ELSE '{"anyOf":[{"not":{"$ref":"#/definitions/d' || (value - 1) || '"}},{"not":{"$ref":"#/definitions/d' || (value - 1) || '"}},{"$ref":"#/definitions/d' || (value - 1) || '"}]}' END, ',') || '},"$ref":"#/definitions/d22"}' FROM generate_series(0, 22);
-- "not" nested 129 deep under "items": 130 levels of subschemas.
INSERT INTO hostile SELECT 'deep', '{"items":' || replace(printf('%.*c', 129, 'X'), 'X', '{"not":') || 'true' || printf('%.*c', 130, '}');
SELECT threads_schema_valid(schema, '1') FROM hostile WHERE name = 'fan40';
SELECT threads_schema_valid(schema, '"x"') FROM hostile WHERE name = 'anyof_not22';
SELECT length(threads_schema_valid(schema, '1')) FROM hostile WHERE name = 'deep';
CREATE VIRTUAL TABLE person USING threads(thread='notes', schema='{"type":"object","properties":{"_id":{"type":"string"},"name":{"type":"string","pattern":"^(a+)+$"},"tree":{"$ref":"#/definitions/t"}},"definitions":{"t":{"type":"array","items":{"allOf":[{"$ref":"#/definitions/t"},{"$ref":"#/definitions/t"}]}}}}');
SELECT threads_alter('person', schema) FROM hostile WHERE name = 'fan40';
-- Documents: a catastrophic pattern, and recursion that doubles per level.
INSERT INTO person(_id, name) VALUES ('p1', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!');
INSERT INTO person(_doc) VALUES ('{"_id":"p2","tree":' || printf('%.*c', 40, '[') || printf('%.*c', 40, ']') || '}');
INSERT INTO person(_doc) VALUES ('{"_id":"p3","name":"aaaa","tree":[[[]]]}');
SELECT _id, name, tree FROM person;
SELECT threads_schema_valid('{"pattern":"^(a+)+$"}', '"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"');
SELECT threads_schema_valid('{"uniqueItems":true}', (SELECT json_group_array(value * 7919) FROM generate_series(1, 10000)));
-- Not innocuous: a view in a database whose schema is not trusted may not
-- call it.
PRAGMA trusted_schema = OFF;
CREATE VIEW v AS SELECT threads_schema_valid('{}', '1') AS ok;
SELECT ok FROM v;
