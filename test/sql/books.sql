-- go-threads' query conformance, as SQL: five books, comparisons on
-- strings, integers and floats, AND/OR, ORDER BY, LIMIT/OFFSET; the same
-- queries without and with indexes must give the same answers.
--   b1 Title1 Author1 {TotalReads 10, Rating 3.3}
--   b2 Title2 Author1 {TotalReads 20, Rating 3.6}
--   b3 Title3 Author1 {TotalReads 30, Rating 3.9}
--   b4 Title4 Author2 {TotalReads 114, Rating 4.0}
--   b5 Title5 Author3 {TotalReads 500, Rating 4.8}
SELECT length(threads_create('library'));
CREATE VIRTUAL TABLE book USING threads(thread='library', schema='{"type":"object","properties":{"_id":{"type":"string"},"Title":{"type":"string"},"Author":{"type":"string"},"Meta":{"type":"object","properties":{"TotalReads":{"type":"integer"},"Rating":{"type":"number"}}}},"required":["Title","Author"]}');
BEGIN;
INSERT INTO book(_id, Title, Author, Meta) VALUES ('b1', 'Title1', 'Author1', '{"TotalReads":10,"Rating":3.3}');
INSERT INTO book(_id, Title, Author, Meta) VALUES ('b2', 'Title2', 'Author1', '{"TotalReads":20,"Rating":3.6}');
INSERT INTO book(_id, Title, Author, Meta) VALUES ('b3', 'Title3', 'Author1', '{"TotalReads":30,"Rating":3.9}');
INSERT INTO book(_doc) VALUES ('{"_id":"b4","Title":"Title4","Author":"Author2","Meta":{"TotalReads":114,"Rating":4.0}}');
INSERT INTO book(_doc) VALUES ('{"_id":"b5","Title":"Title5","Author":"Author3","Meta":{"TotalReads":500,"Rating":4.8}}');
COMMIT;
SELECT count(*) FROM book;
SELECT count(*) FROM threads_records WHERE thread = 'library';
-- Without indexes:
SELECT 'Q01 Title = Title1', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title = 'Title1' ORDER BY Title);
SELECT 'Q02 Title != Title1', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title != 'Title1' ORDER BY Title);
SELECT 'Q03 Title > Title', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title > 'Title' ORDER BY Title);
SELECT 'Q04 Title < Title', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title < 'Title' ORDER BY Title);
SELECT 'Q05 Title >= Title3', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title >= 'Title3' ORDER BY Title);
SELECT 'Q06 Title <= Title2', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title <= 'Title2' ORDER BY Title);
SELECT 'Q07 Author = Author1', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Author = 'Author1' ORDER BY Title);
SELECT 'Q08 Author != Author1', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Author != 'Author1' ORDER BY Title);
SELECT 'Q09 TotalReads = 20', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.TotalReads' = 20 ORDER BY Title);
SELECT 'Q10 TotalReads > 30', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.TotalReads' > 30 ORDER BY Title);
SELECT 'Q11 TotalReads >= 30', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.TotalReads' >= 30 ORDER BY Title);
SELECT 'Q12 TotalReads < 20', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.TotalReads' < 20 ORDER BY Title);
SELECT 'Q13 TotalReads <= 114', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.TotalReads' <= 114 ORDER BY Title);
SELECT 'Q14 Rating = 3.6', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.Rating' = 3.6 ORDER BY Title);
SELECT 'Q15 Rating > 3.9', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.Rating' > 3.9 ORDER BY Title);
SELECT 'Q16 Rating >= 3.9', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.Rating' >= 3.9 ORDER BY Title);
SELECT 'Q17 Rating < 3.6', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.Rating' < 3.6 ORDER BY Title);
SELECT 'Q18 Rating <= 4.0', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.Rating' <= 4.0 ORDER BY Title);
SELECT 'Q19 Author1 AND Rating > 3.5', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Author = 'Author1' AND Meta->>'$.Rating' > 3.5 ORDER BY Title);
SELECT 'Q20 Author2 OR Rating < 3.5', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Author = 'Author2' OR Meta->>'$.Rating' < 3.5 ORDER BY Title);
SELECT 'Q21 ORDER BY TotalReads DESC', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE 1 ORDER BY Meta->>'$.TotalReads' DESC);
SELECT 'Q22 ORDER BY Rating', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE 1 ORDER BY Meta->>'$.Rating');
SELECT 'Q23 ORDER BY Title DESC LIMIT 2', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE 1 ORDER BY Title DESC LIMIT 2);
SELECT 'Q24 ORDER BY Title LIMIT 2 OFFSET 1', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE 1 ORDER BY Title LIMIT 2 OFFSET 1);
SELECT 'Q25 Author1 ORDER BY Title DESC LIMIT 1 OFFSET 1', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Author = 'Author1' ORDER BY Title DESC LIMIT 1 OFFSET 1);
SELECT 'Q26 Title IN (Title2, Title4)', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title IN ('Title2', 'Title4') ORDER BY Title);
SELECT 'Q27 _id = b3', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE _id = 'b3' ORDER BY Title);
SELECT 'Q28 _id >= b4', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE _id >= 'b4' ORDER BY Title);
-- With indexes on Title and Author:
SELECT threads_index('book', 'Title'), threads_index('book', 'Author');
SELECT 'Q01 Title = Title1', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title = 'Title1' ORDER BY Title);
SELECT 'Q02 Title != Title1', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title != 'Title1' ORDER BY Title);
SELECT 'Q03 Title > Title', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title > 'Title' ORDER BY Title);
SELECT 'Q04 Title < Title', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title < 'Title' ORDER BY Title);
SELECT 'Q05 Title >= Title3', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title >= 'Title3' ORDER BY Title);
SELECT 'Q06 Title <= Title2', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title <= 'Title2' ORDER BY Title);
SELECT 'Q07 Author = Author1', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Author = 'Author1' ORDER BY Title);
SELECT 'Q08 Author != Author1', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Author != 'Author1' ORDER BY Title);
SELECT 'Q09 TotalReads = 20', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.TotalReads' = 20 ORDER BY Title);
SELECT 'Q10 TotalReads > 30', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.TotalReads' > 30 ORDER BY Title);
SELECT 'Q11 TotalReads >= 30', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.TotalReads' >= 30 ORDER BY Title);
SELECT 'Q12 TotalReads < 20', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.TotalReads' < 20 ORDER BY Title);
SELECT 'Q13 TotalReads <= 114', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.TotalReads' <= 114 ORDER BY Title);
SELECT 'Q14 Rating = 3.6', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.Rating' = 3.6 ORDER BY Title);
SELECT 'Q15 Rating > 3.9', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.Rating' > 3.9 ORDER BY Title);
SELECT 'Q16 Rating >= 3.9', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.Rating' >= 3.9 ORDER BY Title);
SELECT 'Q17 Rating < 3.6', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.Rating' < 3.6 ORDER BY Title);
SELECT 'Q18 Rating <= 4.0', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Meta->>'$.Rating' <= 4.0 ORDER BY Title);
SELECT 'Q19 Author1 AND Rating > 3.5', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Author = 'Author1' AND Meta->>'$.Rating' > 3.5 ORDER BY Title);
SELECT 'Q20 Author2 OR Rating < 3.5', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Author = 'Author2' OR Meta->>'$.Rating' < 3.5 ORDER BY Title);
SELECT 'Q21 ORDER BY TotalReads DESC', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE 1 ORDER BY Meta->>'$.TotalReads' DESC);
SELECT 'Q22 ORDER BY Rating', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE 1 ORDER BY Meta->>'$.Rating');
SELECT 'Q23 ORDER BY Title DESC LIMIT 2', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE 1 ORDER BY Title DESC LIMIT 2);
SELECT 'Q24 ORDER BY Title LIMIT 2 OFFSET 1', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE 1 ORDER BY Title LIMIT 2 OFFSET 1);
SELECT 'Q25 Author1 ORDER BY Title DESC LIMIT 1 OFFSET 1', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Author = 'Author1' ORDER BY Title DESC LIMIT 1 OFFSET 1);
SELECT 'Q26 Title IN (Title2, Title4)', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE Title IN ('Title2', 'Title4') ORDER BY Title);
SELECT 'Q27 _id = b3', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE _id = 'b3' ORDER BY Title);
SELECT 'Q28 _id >= b4', coalesce(group_concat(Title), '') FROM (SELECT Title FROM book WHERE _id >= 'b4' ORDER BY Title);
