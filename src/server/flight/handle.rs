//! Self-contained tickets and prepared statement handles: both carry the
//! statement text itself (behind a version tag), so the server keeps no
//! per-statement state, a ticket can be redeemed on any server of the same
//! store, and closing a prepared statement has nothing to free.

use prost::bytes::Bytes;
use tonic::Status;

/// The tag in front of the statement text (its version: change it if the
/// encoding changes).
const TAG: &[u8] = b"tsq-sql-1:";

/// The handle (or ticket) of `sql`.
pub(crate) fn encode(sql: &str) -> Bytes {
    let mut bytes = Vec::with_capacity(TAG.len() + sql.len());
    bytes.extend_from_slice(TAG);
    bytes.extend_from_slice(sql.as_bytes());
    Bytes::from(bytes)
}

/// The statement text of a handle made by [`encode`].
pub(crate) fn decode(handle: &[u8]) -> Result<&str, Status> {
    let text = handle.strip_prefix(TAG).ok_or_else(|| {
        Status::invalid_argument(
            "not a tsq statement handle or ticket (it must come from this server's \
             GetFlightInfo or CreatePreparedStatement)",
        )
    })?;
    std::str::from_utf8(text).map_err(|e| {
        Status::invalid_argument(format!(
            "the statement handle is not UTF-8 at byte {}",
            TAG.len() + e.valid_up_to()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let h = encode("SELECT max(v) FROM cpu");
        assert_eq!(&h[..], b"tsq-sql-1:SELECT max(v) FROM cpu");
        assert_eq!(decode(&h).unwrap(), "SELECT max(v) FROM cpu");
        assert_eq!(
            decode(b"other").unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let err = decode(b"tsq-sql-1:ab\xff").unwrap_err();
        assert_eq!(
            err.message(),
            "the statement handle is not UTF-8 at byte 12"
        );
    }
}
