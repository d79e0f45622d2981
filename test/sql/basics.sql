-- Foundation: identity, threads, the audit table, verify and export.
.mode list
SELECT threads_version();
SELECT threads_identity() LIKE '12D3KooW%', length(threads_identity());
SELECT threads_identity() = threads_identity();
SELECT length(threads_create('notes')), substr(threads_create('second'), 1, 4);
SELECT name, variant, role, logs, records FROM threads ORDER BY name;
SELECT count(*) FROM threads_records;
SELECT count(*) FROM threads_records WHERE thread = 'notes';
SELECT counter, prev IS NULL, author = threads_identity(), log <> author,
       length(cid), substr(cid, 1, 7)
  FROM threads_records WHERE thread = 'notes';
SELECT (SELECT id FROM threads WHERE name = 'notes') =
       (SELECT thread FROM threads_records WHERE thread = 'notes');
SELECT json_extract(heads, '$[0].head') =
         (SELECT cid FROM threads_records WHERE thread = 'notes'),
       json_extract(heads, '$[0].counter'),
       json_extract(heads, '$[0].log') =
         (SELECT log FROM threads_records WHERE thread = 'notes')
  FROM threads WHERE name = 'notes';
SELECT threads_verify('notes');
SELECT threads_verify(id) FROM threads WHERE name = 'second';
SELECT threads_export('notes', 'notes.car');
SELECT typeof(created), created > 1700000000000 FROM threads WHERE name = 'notes';
SELECT name FROM threads WHERE thread = 'second';
SELECT name FROM threads WHERE thread = (SELECT id FROM threads WHERE name = 'notes');
SELECT count(*) FROM threads WHERE thread = 'unknown';
-- Each thread has its own log key; both logs have the same author.
SELECT count(DISTINCT log), count(DISTINCT author) FROM threads_records;
-- An unnamed thread.
SELECT length(threads_create());
SELECT count(*), count(name) FROM threads;
