//! `ListTrials` pages: the page size asked for (0 → [`DEFAULT_PAGE_SIZE`],
//! more than [`MAX_PAGE_SIZE`] → that), a page also cut where its trials
//! would outgrow the message cap (at least one trial per page), and the
//! opaque page token: hex of a version byte, the next position and 8 bytes
//! of SHA-256 over the sweep id and `top`, so a token of another sweep or
//! listing, or one that is not ours, is refused (`INVALID_ARGUMENT`).
//! `next_page_token` is empty on the last page.

use super::convert;
use crate::store::TrialPage;
use prost::Message;
use sha2::{Digest, Sha256};
use sweep_proto::v1;
use tonic::Status;

/// Trials per page when the request leaves `page_size` at 0.
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// Most trials per page, whatever the request asks.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The first byte of every token: its layout.
const TOKEN_VERSION: u8 = 1;
/// Token bytes: version, offset (u64 big-endian), 8 bytes of check.
const TOKEN_BYTES: usize = 1 + 8 + 8;

/// The page size a request gets.
pub fn page_size(asked: u32) -> u64 {
    u64::from(match asked {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    })
}

/// What ties a token to its listing.
fn check(sweep_id: &str, top: u32) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(b"sweep.v1.ListTrials\0");
    h.update(sweep_id.as_bytes());
    h.update([0]);
    h.update(top.to_be_bytes());
    let digest = h.finalize();
    let mut out = [0; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// The token that continues `sweep_id`'s listing (cut to `top`) at `offset`.
pub fn encode_token(sweep_id: &str, top: u32, offset: u64) -> String {
    let mut bytes = Vec::with_capacity(TOKEN_BYTES);
    bytes.push(TOKEN_VERSION);
    bytes.extend_from_slice(&offset.to_be_bytes());
    bytes.extend_from_slice(&check(sweep_id, top));
    hex::encode(bytes)
}

/// Where a request's page starts: 0 for an empty token.
pub fn decode_token(sweep_id: &str, top: u32, token: &str) -> Result<u64, Status> {
    if token.is_empty() {
        return Ok(0);
    }
    let refused = |why: &str| Status::invalid_argument(format!("`page_token`: {why}"));
    let bytes = hex::decode(token)
        .ok()
        .filter(|b| b.len() == TOKEN_BYTES && b[0] == TOKEN_VERSION)
        .ok_or_else(|| refused("not a page token of this coordinator"))?;
    if bytes[9..] != check(sweep_id, top) {
        return Err(refused(
            "from another listing (a token continues the sweep and `top` it was given for)",
        ));
    }
    let mut offset = [0; 8];
    offset.copy_from_slice(&bytes[1..9]);
    Ok(u64::from_be_bytes(offset))
}

/// The response for `page` (which starts at `offset`), cut where its trials
/// would pass `max_bytes` encoded, with the token of what follows.
pub fn response(
    page: TrialPage,
    sweep_id: &str,
    top: u32,
    offset: u64,
    max_bytes: usize,
) -> v1::ListTrialsResponse {
    let mut response = convert::ranking(page.ranking);
    let mut used = 0usize;
    let mut kept = 0usize;
    for t in &response.trials {
        let size = t.encoded_len() + 8;
        if kept > 0 && used + size > max_bytes {
            break;
        }
        used += size;
        kept += 1;
    }
    response.trials.truncate(kept);
    let next = offset + kept as u64;
    response.total = page.total;
    response.next_page_token = if next < page.total {
        encode_token(sweep_id, top, next)
    } else {
        String::new()
    };
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_default_and_cap() {
        assert_eq!(page_size(0), 500);
        assert_eq!(page_size(7), 7);
        assert_eq!(page_size(1_000_000), 1000);
    }

    #[test]
    fn tokens_round_trip_and_refuse_garbage_and_foreign_ones() {
        let t = encode_token("sw-1", 0, 1500);
        assert_eq!(decode_token("sw-1", 0, &t).unwrap(), 1500);
        assert_eq!(decode_token("sw-1", 0, "").unwrap(), 0);
        for (sweep, top, token) in [
            ("sw-2", 0, t.as_str()),
            ("sw-1", 10, t.as_str()),
            ("sw-1", 0, "zz"),
            ("sw-1", 0, "01"),
            ("sw-1", 0, &t[..t.len() - 2]),
        ] {
            let e = decode_token(sweep, top, token).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{token}");
            assert!(e.message().starts_with("`page_token`"), "{}", e.message());
            assert!(!e.message().contains("sw-1"), "{}", e.message());
        }
    }
}
