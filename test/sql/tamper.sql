-- Tampering with the stored log: threads_verify names the failed check,
-- and threads_export refuses to carry a corrupt block.  Each case is
-- undone with ROLLBACK TO before the next.
SELECT length(threads_create('notes'));
SELECT threads_verify('notes');
SAVEPOINT t;
-- The record block's bytes replaced by the event block's.
UPDATE _threads_record SET record = event;
SELECT threads_verify('notes');
SELECT threads_export('notes', 'bad.car');
ROLLBACK TO t;
-- The event block removed.
UPDATE _threads_record SET event = NULL;
SELECT threads_verify('notes');
ROLLBACK TO t;
-- Another service key: the record envelope does not open.
UPDATE _threads_thread SET service = randomblob(32);
SELECT threads_verify('notes');
ROLLBACK TO t;
-- Another read key: the header does not open.
UPDATE _threads_thread SET read = randomblob(32);
SELECT threads_verify('notes');
ROLLBACK TO t;
-- A follower keeps only the service key: it still verifies the log.
UPDATE _threads_thread SET read = NULL;
SELECT role FROM threads WHERE name = 'notes';
SELECT threads_verify('notes');
ROLLBACK TO t;
RELEASE t;
SELECT threads_verify('notes'), role FROM threads WHERE name = 'notes';
SELECT threads_export('notes', 'good.car');
