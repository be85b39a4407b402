-- A Message-ID alone does not make a duplicate: scanners, monitoring tools and
-- broken clients reuse one id for different mails. An inbound mail is the one
-- already recorded when mailbox, Message-ID and content fingerprint (a hash of
-- the body and the sender's headers, see src/inbound/fingerprint.rs) all match.
-- '' marks rows stored before fingerprints were kept: they match any
-- fingerprint, so a mail recorded before the upgrade is still never a second
-- ticket when it is fetched again after it.
ALTER TABLE messages ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
DROP INDEX messages_inbound_once;
CREATE UNIQUE INDEX messages_inbound_once ON messages(mailbox, message_id, fingerprint) WHERE direction = 'in';
