-- Collections: writes become one signed record per transaction; reads,
-- rollbacks, a second table over one collection, rebuild, DROP.
SELECT length(threads_create('notes'));
CREATE VIRTUAL TABLE person USING threads(thread='notes', schema='{"type":"object","properties":{"_id":{"type":"string"},"name":{"type":"string"},"age":{"type":"integer","minimum":0},"tags":{"type":"array"}},"required":["name"]}');
CREATE VIRTUAL TABLE note USING threads(thread='notes', schema='{"type":"object","properties":{"text":{"type":"string"}}}');
SELECT count(*) FROM threads_records WHERE thread = 'notes';
-- Columns: _id, the properties, hidden _doc/_author/_mod.
SELECT group_concat(name || ':' || type || ':' || hidden) FROM pragma_table_xinfo('person');
INSERT INTO person(name, age) VALUES ('Ada', 36);
SELECT length(_id), name, age, _author = threads_identity(), _mod > 1700000000000 FROM person;
INSERT INTO person(_id, name, age, tags) VALUES ('p2', 'Bob', 20, '["x","y"]');
SELECT _doc FROM person WHERE _id = 'p2';
SELECT json_extract(tags, '$[1]') FROM person WHERE _id = 'p2';
INSERT INTO person(_doc) VALUES ('{"_id":"p3","name":"Cy","extra":{"deep":true}}');
SELECT _doc FROM person WHERE _id = 'p3';
UPDATE person SET age = 21 WHERE _id = 'p2';
UPDATE person SET tags = NULL WHERE _id = 'p2';
SELECT _doc FROM person WHERE _id = 'p2';
DELETE FROM person WHERE _id = 'p3';
SELECT count(*) FROM person;
SELECT count(*) FROM threads_records WHERE thread = 'notes';
-- One transaction over two collections of the thread: one record.
BEGIN;
INSERT INTO person(_id, name) VALUES ('p4', 'Dee');
INSERT INTO note(_id, text) VALUES ('n1', 'hello');
UPDATE person SET age = 40 WHERE _id = 'p4';
SELECT name, age FROM person WHERE _id = 'p4';
COMMIT;
SELECT count(*) FROM threads_records WHERE thread = 'notes';
-- ROLLBACK and ROLLBACK TO leave no trace.
BEGIN;
INSERT INTO person(_id, name) VALUES ('gone', 'X');
ROLLBACK;
SAVEPOINT a;
INSERT INTO note(_id, text) VALUES ('n2', 'kept');
SAVEPOINT b;
INSERT INTO note(_id, text) VALUES ('n3', 'dropped');
ROLLBACK TO b;
RELEASE a;
SELECT group_concat(_id) FROM (SELECT _id FROM note ORDER BY _id);
SELECT count(*) FROM person WHERE _id = 'gone';
SELECT count(*) FROM threads_records WHERE thread = 'notes';
-- A failed statement leaves nothing: the second row conflicts.
INSERT INTO note(_id, text) VALUES ('n9', 'a'), ('n9', 'b');
SELECT count(*) FROM note WHERE _id = 'n9';
SELECT count(*) FROM threads_records WHERE thread = 'notes';
INSERT OR IGNORE INTO note(_id, text) VALUES ('n1', 'ignored');
INSERT OR REPLACE INTO note(_id, text) VALUES ('n2', 'replaced');
SELECT _id, text FROM note ORDER BY _id;
-- A second table over the same collection starts from the log and sees
-- writes made through the first.
CREATE VIRTUAL TABLE people USING threads(thread='notes', collection='person');
SELECT group_concat(name) FROM (SELECT _id, name FROM people ORDER BY _id);
INSERT INTO person(_id, name) VALUES ('p5', 'Eve');
SELECT name FROM people WHERE _id = 'p5';
-- Rebuild replays the log and yields identical rows.
CREATE TEMP TABLE before AS SELECT _id, _doc, _author, _mod FROM person;
SELECT threads_rebuild('person');
SELECT count(*) FROM (SELECT * FROM before EXCEPT SELECT _id, _doc, _author, _mod FROM person);
SELECT count(*) FROM (SELECT _id, _doc, _author, _mod FROM person EXCEPT SELECT * FROM before);
SELECT threads_verify('notes');
SELECT threads_export('notes', 'notes.car');
SELECT threads_verify_car('notes', 'notes.car');
-- DROP TABLE removes the local table, not the history.
DROP TABLE people;
SELECT count(*) FROM sqlite_schema WHERE name LIKE 'people%';
SELECT count(*) FROM person;
SELECT threads_verify('notes');
-- Full scans and tombstones: a scan drops its tombstone filter only while
-- the table has none.  A fresh table, three rows, a scan; one deleted, the
-- same scans again must not show it; revived by an insert, it is back.
CREATE VIRTUAL TABLE scan_t USING threads(thread='notes', schema='{"type":"object","properties":{"n":{"type":"string"}}}');
INSERT INTO scan_t(_id, n) VALUES ('s1', 'ab'), ('s2', 'ac'), ('s3', 'b');
SELECT group_concat(_id) FROM (SELECT _id FROM scan_t WHERE n LIKE 'a%' ORDER BY _id);
DELETE FROM scan_t WHERE _id = 's1';
SELECT group_concat(_id) FROM (SELECT _id FROM scan_t WHERE n LIKE 'a%' ORDER BY _id);
SELECT count(*) FROM scan_t;
INSERT INTO scan_t(_id, n) VALUES ('s1', 'ax');
SELECT group_concat(_id || '=' || n) FROM (SELECT _id, n FROM scan_t WHERE n LIKE 'a%' ORDER BY _id);
