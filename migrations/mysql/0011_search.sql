-- Full-text search of message text; see migrations/sqlite/0011_search.sql and
-- ARCHITECTURE.md ("Message search").
--
-- MySQL and MariaDB read this same file but differ in what a FULLTEXT index can do with
-- text that has no spaces, so the index is chosen here, by the server that runs it:
--
-- * MySQL 8 has the ngram parser: a FULLTEXT index on `content` WITH PARSER ngram indexes
--   every run of `ngram_token_size` characters (2 by default).
-- * MariaDB has no ngram parser, and its word parser would index a Chinese sentence as one
--   word. So the server itself writes the trigrams out: `search_grams` is a stored column
--   generated from `content` (every run of three characters, each followed by a space),
--   and a plain FULLTEXT index over it finds them. Being generated, it follows every
--   insert, edit and delete without triggers.
-- * Anything else gets no index; the search then reads the caller's conversations with
--   LIKE.
--
-- Stopwords are off for the new index: with them, "the" or "was" would never be found,
-- and neither would a trigram that happens to spell one.
CREATE PROCEDURE confab_search_index()
BEGIN
    DECLARE stopwords_were BOOLEAN DEFAULT @@SESSION.innodb_ft_enable_stopword;
    SET SESSION innodb_ft_enable_stopword = OFF;
    IF VERSION() LIKE '%MariaDB%' THEN
        ALTER TABLE messages
            ADD COLUMN search_grams MEDIUMTEXT
                AS (REGEXP_REPLACE(content, '(.)(?=(.)(.))', '\\1\\2\\3 ')) STORED,
            ADD FULLTEXT INDEX messages_grams (search_grams);
    ELSEIF EXISTS (SELECT 1 FROM information_schema.PLUGINS
                   WHERE PLUGIN_NAME = 'ngram' AND PLUGIN_STATUS = 'ACTIVE') THEN
        -- Prepared from text: MariaDB refuses a statement naming a parser it lacks as soon
        -- as it reads it, even in a branch it never runs.
        SET @confab_ngram = 'ALTER TABLE messages
            ADD FULLTEXT INDEX messages_ngram (content) WITH PARSER ngram';
        PREPARE confab_ngram FROM @confab_ngram;
        EXECUTE confab_ngram;
        DEALLOCATE PREPARE confab_ngram;
    END IF;
    SET SESSION innodb_ft_enable_stopword = stopwords_were;
END;

CALL confab_search_index();

DROP PROCEDURE confab_search_index;
