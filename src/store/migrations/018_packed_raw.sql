-- Raw mail is stored compressed (store::packed): raw_codec says how each
-- row's `raw` is stored (0 plain, as every row before this migration; 1 zstd).
-- `Store::pack_old_messages` rewrites the plain rows, found by the index.
-- The decoded attachments and the HTML part are no longer stored: nothing
-- read them, and both are in the raw message.
ALTER TABLE messages ADD COLUMN raw_codec INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_raw_plain ON messages(id) WHERE raw_codec = 0;
