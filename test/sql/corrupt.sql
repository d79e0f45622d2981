-- A damaged shadow table gives SQLITE_CORRUPT_VTAB (code 11) with a clear
-- message, never a crash, and the log is untouched.
SELECT length(threads_create('notes'));
CREATE VIRTUAL TABLE person USING threads(thread='notes', schema='{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}}}');
INSERT INTO person(_id, name, age) VALUES ('d', 'Dee', 1), ('e', 'Eve', 2);
UPDATE person_data SET _rest = 'garbage' WHERE _id = 'd';
UPDATE person SET age = 5 WHERE _id = 'd';
UPDATE person_data SET _clock = x'00' WHERE _id = 'e';
INSERT OR REPLACE INTO person(_id, name) VALUES ('e', 'Eve2');
SELECT count(*) FROM threads_records;
DROP TABLE person_data;
SELECT count(*) FROM person;
SELECT threads_verify('notes');
