-- Bad input to collections: clear errors, and nothing changes.
SELECT length(threads_create('notes'));
CREATE VIRTUAL TABLE p USING threads(schema='{}');
CREATE VIRTUAL TABLE p USING threads(thread='nope', schema='{}');
CREATE VIRTUAL TABLE p USING threads(thread='notes');
CREATE VIRTUAL TABLE p USING threads(thread='notes', schema='{"type":"object","properties":{"age":{"type":"integer","minimum":"zero"}}}');
CREATE VIRTUAL TABLE p USING threads(thread='notes', collection='bad-name', schema='{}');
CREATE VIRTUAL TABLE p USING threads(thread='notes', schema='{"properties":{"_doc":{}}}');
CREATE VIRTUAL TABLE p USING threads(thread='notes', bogus='1');
SELECT count(*) FROM sqlite_schema WHERE name LIKE 'p%';
CREATE VIRTUAL TABLE person USING threads(thread='notes', schema='{"type":"object","properties":{"_id":{"type":"string"},"name":{"type":"string"},"age":{"type":"integer","minimum":0},"email":{"type":"string","unique":true}},"required":["name"]}');
INSERT INTO person(_id, name, age) VALUES ('a', 'Ada', -1);
INSERT INTO person(_id, age) VALUES ('b', 5);
INSERT INTO person(_id, name) VALUES ('c', 42);
INSERT INTO person(_doc) VALUES ('[1,2]');
INSERT INTO person(_doc) VALUES ('not json');
INSERT INTO person(_id, name, email) VALUES ('d', 'Dee', 'd@x');
INSERT INTO person(_id, name, email) VALUES ('e', 'Eve', 'd@x');
UPDATE person SET _id = 'z' WHERE _id = 'd';
UPDATE person SET age = -5 WHERE _id = 'd';
SELECT count(*), group_concat(_id) FROM person;
SELECT count(*) FROM threads_records WHERE thread = 'notes';
-- A follower (service key only) cannot write.
UPDATE _threads_thread SET read = NULL WHERE name = 'notes';
INSERT INTO person(_id, name) VALUES ('f', 'Fay');
SELECT count(*) FROM person;
SELECT count(*) FROM threads_records WHERE thread = 'notes';
