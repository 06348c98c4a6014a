//! Reading a request body within the limits (`docs/server.md`, "Limits"):
//! at most `--max-body` bytes as sent, and for `Content-Encoding: gzip` at
//! most `--max-decompressed` bytes once inflated, so a small "zip bomb"
//! cannot fill the memory. Both overflows answer 413.

use std::io::Read;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use futures::StreamExt;

use super::errors::ApiError;

/// The body as sent, refused as soon as it passes `limit` bytes (a
/// `Content-Length` over it is refused before anything is read).
pub(crate) async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::BodyTooLarge { limit });
    }
    let mut out = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
        if out.len() + chunk.len() > limit {
            return Err(ApiError::BodyTooLarge { limit });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `raw` decoded as its `Content-Encoding` says (gzip or none), at most
/// `limit` bytes out.
pub(crate) fn decode(headers: &HeaderMap, raw: Vec<u8>, limit: usize) -> Result<Vec<u8>, ApiError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => Ok(raw),
        Some("gzip" | "x-gzip") => gunzip(&raw, limit),
        Some(other) => Err(ApiError::UnsupportedEncoding(other.to_string())),
    }
}

/// Inflates a gzip stream (several members are read one after another, as
/// `gzip` writes them), refusing more than `limit` bytes of output.
fn gunzip(raw: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let decoder = flate2::read::MultiGzDecoder::new(raw);
    // One byte more than allowed tells "over the limit" from "exactly it".
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::BadRequest(format!("the gzip body does not decode: {e}")))?;
    if out.len() > limit {
        return Err(ApiError::DecompressedTooLarge { limit });
    }
    Ok(out)
}

/// `bytes` as UTF-8 text, or 400 naming the byte offset of the first
/// invalid sequence.
pub(crate) fn utf8(bytes: Vec<u8>) -> Result<String, ApiError> {
    String::from_utf8(bytes).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not UTF-8: invalid byte sequence at byte offset {}",
            e.utf8_error().valid_up_to()
        ))
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use axum::http::HeaderValue;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn gzip_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        h
    }

    #[test]
    fn gzip_bodies_decode_up_to_the_limit_and_no_further() {
        let text = vec![b'a'; 1000];
        let packed = gzip(&text);
        assert_eq!(decode(&gzip_headers(), packed.clone(), 1000).unwrap(), text);
        let err = decode(&gzip_headers(), packed, 999).unwrap_err();
        assert!(matches!(err, ApiError::DecompressedTooLarge { limit: 999 }));
        let err = decode(&gzip_headers(), b"not gzip".to_vec(), 10).unwrap_err();
        assert!(err.to_string().starts_with("the gzip body does not decode"));
        assert_eq!(decode(&HeaderMap::new(), b"x".to_vec(), 0).unwrap(), b"x");
        let mut br = HeaderMap::new();
        br.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert_eq!(
            decode(&br, vec![], 1).unwrap_err().to_string(),
            "unsupported Content-Encoding 'br' (expected gzip or identity)"
        );
    }

    #[test]
    fn bad_utf8_names_its_offset() {
        let err = utf8(vec![b'o', b'k', 0xff]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the body is not UTF-8: invalid byte sequence at byte offset 2"
        );
    }
}
