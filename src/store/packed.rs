//! Raw mail as stored: each message's bytes whole (they are the record of
//! truth: export, the outbox and `quarantine --retry` read them back), but
//! compressed with zstd. Rows written before migration 018 hold plain bytes
//! (codec 0) until `Store::pack_old_messages` has rewritten them. A mail
//! with attachments is stored with its base64 bodies decoded (codec 2,
//! `runs`): the same bytes come back.

mod runs;

use super::StoreError;

/// `messages.raw_codec`: how `raw` is stored.
pub const PLAIN: i64 = 0;
pub const ZSTD: i64 = 1;
/// zstd of the `runs` container: base64 bodies stored as their bytes.
pub const LIFTED: i64 = 2;

/// Below this a mail has no attachment worth lifting (`runs::MIN_LIFTED`
/// is 1 KiB decoded), and most mail is below it: no scan.
const LIFT_FROM: usize = 2048;

/// zstd's level for raw mail. Chosen on the bench corpus (1,000 mails, 2 %
/// with a large attachment): see README "Storage".
const LEVEL: i32 = 3;

/// The bytes to store for `raw`, with their codec.
pub fn pack(raw: &[u8]) -> (Vec<u8>, i64) {
    if raw.len() >= LIFT_FROM
        && let Some(container) = runs::lift(raw)
        && let Ok(packed) = compress(&container)
    {
        return (packed, LIFTED);
    }
    match compress(raw) {
        Ok(packed) => (packed, ZSTD),
        // zstd fails only on allocation; the plain bytes are as good.
        Err(_) => (raw.to_vec(), PLAIN),
    }
}

/// One compression context for the process, reused: making one per mail
/// (`zstd::bulk::compress`) was 40 % of the time spent compressing
/// (ZSTD_createCCtx 4.5 % of a `process_batch` profile, compressing 11 %).
/// One, not one per thread: a context sized for a large mail holds a few
/// MiB, and the writes run on whichever of tokio's blocking threads is
/// free; kept per thread they raised the peak RSS of a 10,000-mail drain
/// from 56 to 69 MiB. A second writer at the same moment makes its own.
static COMPRESSOR: std::sync::Mutex<Option<zstd::bulk::Compressor<'static>>> =
    std::sync::Mutex::new(None);

fn compress(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let Ok(mut slot) = COMPRESSOR.try_lock() else {
        return zstd::bulk::compress(raw, LEVEL);
    };
    let c = match slot.as_mut() {
        Some(c) => c,
        None => slot.insert(zstd::bulk::Compressor::new(LEVEL)?),
    };
    c.compress(raw)
}

/// The raw bytes of a stored row.
pub fn unpack(stored: Vec<u8>, codec: i64) -> Result<Vec<u8>, StoreError> {
    match codec {
        PLAIN => Ok(stored),
        ZSTD => decompress(&stored),
        LIFTED => runs::lower(&decompress(&stored)?).map_err(|e| {
            StoreError::other(format!(
                "a stored message's base64 runs do not read back: {e}"
            ))
        }),
        other => Err(StoreError::other(format!(
            "a stored message has an unknown codec {other}"
        ))),
    }
}

fn decompress(stored: &[u8]) -> Result<Vec<u8>, StoreError> {
    zstd::decode_all(stored)
        .map_err(|e| StoreError::other(format!("a stored message does not decompress: {e}")))
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

    #[test]
    fn an_attachment_is_stored_decoded() {
        let mut raw = b"Subject: scan\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
        // 20,000 bytes of noise (an xorshift), as base64 in lines of 76.
        let mut x = 88172645463325252u64;
        let noise: Vec<u8> = (0..20_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD.encode(&noise);
        for line in text.as_bytes().chunks(76) {
            raw.extend_from_slice(line);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"--b--\r\n");
        let (packed, codec) = pack(&raw);
        assert_eq!(codec, LIFTED);
        let plain_zstd = compress(&raw).unwrap().len();
        // The bytes carried (20,000), not zstd's 75 % of their text (~20,500).
        assert!(
            packed.len() < 20_200,
            "{} (zstd alone {plain_zstd})",
            packed.len()
        );
        assert!(packed.len() < plain_zstd);
        assert_eq!(unpack(packed.clone(), codec).unwrap(), raw);
        assert!(unpack(packed[..packed.len() / 2].to_vec(), codec).is_err());
    }

    #[test]
    fn a_reused_compressor_packs_each_mail_on_its_own() {
        // The context is kept between mails: nothing of one may leak into
        // the next (each frame decodes alone, to its own bytes).
        let mails: Vec<Vec<u8>> = (0..5u8)
            .map(|i| {
                format!(
                    "Subject: mail {i}\r\n\r\n{}",
                    "x".repeat(100 * (i as usize + 1))
                )
                .into_bytes()
            })
            .collect();
        let packed: Vec<(Vec<u8>, i64)> = mails.iter().map(|m| pack(m)).collect();
        for (m, (p, codec)) in mails.iter().zip(packed) {
            assert_eq!(codec, ZSTD);
            assert_eq!(&unpack(p, codec).unwrap(), m);
        }
        assert_eq!(
            pack(&mails[2]).0,
            pack(&mails[2]).0,
            "the same bytes pack the same"
        );
    }
}
