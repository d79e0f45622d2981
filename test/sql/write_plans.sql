-- Every DELETE and UPDATE plan SQLite can choose works, one record per
-- statement: by _id, by an indexed field, by a field with no index, by a
-- range, IN, bare; the rows left are checked after each.
.bail on
SELECT length(threads_create('t'));
CREATE VIRTUAL TABLE c USING threads(thread='t', schema='{"type":"object","properties":{"name":{"type":"string","index":true},"n":{"type":"integer"}}}');
INSERT INTO c(_id, name, n) VALUES ('a','x',1), ('b','y',20), ('c','z',5), ('d','w',7), ('e','v',30), ('f','u',40), ('g','t',2);
SELECT count(*) FROM threads_records;
DELETE FROM c WHERE n < 3;
SELECT group_concat(_id) FROM (SELECT _id FROM c ORDER BY _id);
DELETE FROM c WHERE name = 'y';
SELECT group_concat(_id) FROM (SELECT _id FROM c ORDER BY _id);
DELETE FROM c WHERE n IN (5, 7);
SELECT group_concat(_id) FROM (SELECT _id FROM c ORDER BY _id);
UPDATE c SET n = n + 1 WHERE n > 25;
SELECT group_concat(_id || '=' || n) FROM (SELECT _id, n FROM c ORDER BY _id);
UPDATE c SET name = 'vv' WHERE name = 'v';
UPDATE c SET n = 0;
SELECT group_concat(_id || '=' || name || '=' || n) FROM (SELECT * FROM c ORDER BY _id);
UPDATE c SET n = 9 WHERE _id IN (SELECT _id FROM c WHERE name LIKE 'u%');
DELETE FROM c WHERE _id = 'e';
SELECT group_concat(_id || '=' || n) FROM (SELECT _id, n FROM c ORDER BY _id);
DELETE FROM c;
SELECT count(*) FROM c;
SELECT count(*) FROM threads_records;
SELECT threads_verify('t');
