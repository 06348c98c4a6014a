//! Authentication of Flight SQL calls with the server's token
//! ([`crate::server::auth`]). Every call, including the handshake, passes
//! through [`Authenticator`]: it accepts `authorization: Bearer <token>`
//! (or `Token <token>`), and `Basic` credentials whose password is the
//! token (the user name is ignored), as clients send them to the handshake.
//! The handshake then answers with the bearer token in its `authorization`
//! header and payload, which Flight clients use for the following calls.

use base64::Engine;
use tonic::metadata::MetadataMap;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::server::auth::Token;

/// The interceptor that checks each call's `authorization` header.
#[derive(Debug, Clone)]
pub(crate) struct Authenticator {
    token: Option<Token>,
}

impl Authenticator {
    /// Checks calls against `token`; `None` lets every call through.
    pub(crate) fn new(token: Option<Token>) -> Self {
        Authenticator { token }
    }

    fn check(&self, metadata: &MetadataMap) -> Result<(), Status> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let header = authorization(metadata);
        if token.matches_header(header) {
            return Ok(());
        }
        if let Some(password) = header.and_then(basic_password) {
            if token.matches(&password) {
                return Ok(());
            }
        }
        Err(Status::unauthenticated(
            "missing or wrong token: send the header `authorization: Bearer <token>` \
             (or Basic credentials with the token as the password)",
        ))
    }
}

impl Interceptor for Authenticator {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        self.check(request.metadata())?;
        Ok(request)
    }
}

/// The `authorization` header's text, if it has one in ASCII.
fn authorization(metadata: &MetadataMap) -> Option<&str> {
    metadata.get("authorization")?.to_str().ok()
}

/// The password of a `Basic` header (`base64(user:password)`).
fn basic_password(header: &str) -> Option<String> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_string())
}

/// The bearer token the handshake hands back: the one the (already
/// authenticated) call presented, as a bearer token or as the Basic
/// password; `anonymous` when the server has no token and the call
/// carried none.
pub(crate) fn handshake_token(metadata: &MetadataMap) -> String {
    let header = authorization(metadata).unwrap_or("");
    if let Some(password) = basic_password(header) {
        return password;
    }
    match header.trim().split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") =>
        {
            token.trim().to_string()
        }
        _ => "anonymous".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(header: Option<&str>) -> MetadataMap {
        let mut m = MetadataMap::new();
        if let Some(h) = header {
            m.insert("authorization", h.parse().unwrap());
        }
        m
    }

    fn basic(user_password: &str) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_password);
        format!("Basic {encoded}")
    }

    #[test]
    fn accepts_bearer_token_and_basic_password() {
        let auth = Authenticator::new(Some(Token::new("s3cret").unwrap()));
        assert!(auth.check(&metadata(Some("Bearer s3cret"))).is_ok());
        assert!(auth.check(&metadata(Some("Token s3cret"))).is_ok());
        assert!(auth.check(&metadata(Some(&basic("anyone:s3cret")))).is_ok());
        for bad in [
            Some("Bearer s3cre"),
            Some(basic("s3cret:").as_str()),
            Some(basic("user:wrong").as_str()),
            Some("Basic not-base64!"),
            None,
        ] {
            let err = auth.check(&metadata(bad)).unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unauthenticated, "{bad:?}");
        }
    }

    #[test]
    fn no_token_lets_every_call_through() {
        let auth = Authenticator::new(None);
        assert!(auth.check(&metadata(None)).is_ok());
        assert!(auth.check(&metadata(Some("Bearer whatever"))).is_ok());
    }

    #[test]
    fn handshake_hands_back_the_presented_token() {
        assert_eq!(
            handshake_token(&metadata(Some(&basic("u:s3cret")))),
            "s3cret"
        );
        assert_eq!(handshake_token(&metadata(Some("Bearer s3cret"))), "s3cret");
        assert_eq!(handshake_token(&metadata(None)), "anonymous");
    }
}
