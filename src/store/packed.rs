//! Raw mail as stored: each message's bytes whole (they are the record of
//! truth: export, the outbox and `quarantine --retry` read them back), but
//! compressed with zstd. Rows written before migration 018 hold plain bytes
//! (codec 0) until `Store::pack_old_messages` has rewritten them.

use super::StoreError;

/// `messages.raw_codec`: how `raw` is stored.
pub const PLAIN: i64 = 0;
pub const ZSTD: i64 = 1;

/// zstd's level for raw mail. Chosen on the bench corpus (1,000 mails, 2 %
/// with a large attachment): see README "Storage".
const LEVEL: i32 = 3;

/// The bytes to store for `raw`, with their codec.
pub fn pack(raw: &[u8]) -> (Vec<u8>, i64) {
    match zstd::bulk::compress(raw, LEVEL) {
        Ok(packed) => (packed, ZSTD),
        // zstd fails only on allocation; the plain bytes are as good.
        Err(_) => (raw.to_vec(), PLAIN),
    }
}

/// The raw bytes of a stored row.
pub fn unpack(stored: Vec<u8>, codec: i64) -> Result<Vec<u8>, StoreError> {
    match codec {
        PLAIN => Ok(stored),
        ZSTD => zstd::decode_all(stored.as_slice())
            .map_err(|e| StoreError::other(format!("a stored message does not decompress: {e}"))),
        other => Err(StoreError::other(format!(
            "a stored message has an unknown codec {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_mail_comes_back_byte_for_byte() {
        let raw =
            b"From: Ann <ann@corp.test>\r\nSubject: =?GBK?B?xOO6ww==?=\r\n\r\nbody\r\n".repeat(40);
        let (packed, codec) = pack(&raw);
        assert_eq!(codec, ZSTD);
        assert!(
            packed.len() < raw.len() / 4,
            "{} of {}",
            packed.len(),
            raw.len()
        );
        assert_eq!(unpack(packed, codec).unwrap(), raw);
        assert_eq!(unpack(b"plain".to_vec(), PLAIN).unwrap(), b"plain");
        assert!(unpack(b"not zstd".to_vec(), ZSTD).is_err());
        assert!(unpack(Vec::new(), 7).is_err());
    }
}
