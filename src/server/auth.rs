//! The server's one shared secret: a token read from `--token-file`,
//! compared in constant time with what a request's `Authorization` header
//! carries (`Bearer <token>`, or `Token <token>` as InfluxDB clients send
//! it). The token is never logged: [`Token`]'s `Debug` prints a mask.

use std::path::Path;

use subtle::ConstantTimeEq;

/// Why a token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read.
    #[error("cannot read token file {path}: {source}")]
    Read {
        /// The file named by `--token-file`.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no token (only whitespace).
    #[error("token file {path} is empty")]
    Empty {
        /// The file named by `--token-file`.
        path: String,
    },
    /// The token has a character that cannot travel in an HTTP header.
    #[error("token file {path}: the token has a character at byte {offset} that an HTTP header cannot carry (printable ASCII only, no spaces)")]
    BadCharacter {
        /// The file named by `--token-file`.
        path: String,
        /// Byte offset of the first bad character within the token.
        offset: usize,
    },
}

/// The configured secret. Compare with [`Token::matches_header`].
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(****)")
    }
}

impl Token {
    /// A token from its text: surrounding whitespace is trimmed; the rest
    /// must be printable ASCII without spaces.
    pub fn new(text: &str) -> Result<Token, TokenError> {
        Self::parse(text, "<inline>")
    }

    /// Reads the token from `path` (the whole file, trimmed).
    pub fn from_file(path: &Path) -> Result<Token, TokenError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text, &shown)
    }

    fn parse(text: &str, path: &str) -> Result<Token, TokenError> {
        let token = text.trim();
        if token.is_empty() {
            return Err(TokenError::Empty { path: path.into() });
        }
        if let Some(offset) = token.bytes().position(|b| !b.is_ascii_graphic()) {
            return Err(TokenError::BadCharacter {
                path: path.into(),
                offset,
            });
        }
        Ok(Token(token.to_string()))
    }

    /// Whether `presented` is the token, in time that does not depend on
    /// where the two first differ.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// Whether an `Authorization` header value (`Bearer <token>` or
    /// `Token <token>`, scheme case-insensitive) carries the token. A
    /// missing header never matches.
    pub fn matches_header(&self, header: Option<&str>) -> bool {
        let Some(value) = header else { return false };
        let Some((scheme, rest)) = value.trim().split_once(' ') else {
            return false;
        };
        let scheme_ok =
            scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
        // Compare even when the scheme is wrong, so the time does not tell.
        let token_ok = self.matches(rest.trim());
        scheme_ok && token_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_schemes_and_mismatches() {
        let t = Token::new(" s3cret\n").unwrap();
        assert!(t.matches_header(Some("Bearer s3cret")));
        assert!(t.matches_header(Some("bearer s3cret")));
        assert!(t.matches_header(Some("Token s3cret")));
        assert!(!t.matches_header(Some("Basic s3cret")));
        assert!(!t.matches_header(Some("Bearer s3cre")));
        assert!(!t.matches_header(Some("Bearer s3cret2")));
        assert!(!t.matches_header(Some("s3cret")));
        assert!(!t.matches_header(None));
        assert_eq!(format!("{t:?}"), "Token(****)");
    }

    #[test]
    fn bad_token_files() {
        assert!(matches!(Token::new("  \n"), Err(TokenError::Empty { .. })));
        match Token::new("ab c") {
            Err(TokenError::BadCharacter { offset, .. }) => assert_eq!(offset, 2),
            other => panic!("expected a bad character, got {other:?}"),
        }
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none");
        let err = Token::from_file(&missing).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read token file "),
            "{err}"
        );
    }
}
