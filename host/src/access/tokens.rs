//! ServiceAccount tokens, as the TokenRequest API makes them: JSON Web
//! Tokens (HS256) whose claims name the account, its uid, the audiences
//! and the expiry, signed with a key derived from the node's admin token —
//! so every node of a cluster (which shares that token) verifies what any
//! node made, and replacing the admin token retires every account token.
//!
//! A token is bound to its ServiceAccount's uid: the API checks the
//! account still exists with that uid on every request, so deleting the
//! account (or recreating it) revokes its tokens at once, as in Kubernetes.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The audience of this API: a token made for another audience is not
/// accepted here.
pub const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
/// The shortest and the default lifetime of a token (Kubernetes' own).
pub const MIN_SECONDS: i64 = 600;
/// The lifetime of a token when none is asked for.
pub const DEFAULT_SECONDS: i64 = 3600;
/// The longest lifetime a token may be given (a year).
pub const MAX_SECONDS: i64 = 365 * 24 * 3600;
/// The issuer named in every token.
pub const ISSUER: &str = "wasmjob";

/// Why a token is not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("the token is not a ServiceAccount token of this node")]
    Malformed,
    /// The signature does not match.
    #[error("the token's signature does not match this node's key")]
    Signature,
    /// Past its expiry.
    #[error("the token expired at {0}: ask for a new one (kubectl create token)")]
    Expired(String),
    /// Made for another audience.
    #[error("the token is for {0:?}, not for this API")]
    Audience(Vec<String>),
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// `system:serviceaccount:NS:NAME`.
    pub sub: String,
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// This token's id.
    pub jti: String,
    /// The account.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: Bound,
}

/// The account a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bound {
    /// Its namespace.
    pub namespace: String,
    /// Its name and uid.
    pub serviceaccount: Account,
}

/// A ServiceAccount's name and uid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Name.
    pub name: String,
    /// Uid.
    pub uid: String,
}

/// The key tokens are signed with, from the node's admin token.
pub struct Signer {
    key: ring::hmac::Key,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Signer {
    /// The signer of the node whose admin token is `admin_token`.
    pub fn new(admin_token: &str) -> Signer {
        let root = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, admin_token.as_bytes());
        let derived = ring::hmac::sign(&root, b"wasmjob serviceaccount tokens v1");
        Signer {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// A token for account `name` (uid `uid`) of `namespace`, made at
    /// `now` (seconds) and good for `seconds`, for `audiences` (this API's
    /// when empty).
    pub fn issue(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        audiences: &[String],
        now: i64,
        seconds: i64,
    ) -> (String, Claims) {
        let mut id = [0u8; 12];
        getrandom::getrandom(&mut id).expect("the system's random source");
        let claims = Claims {
            iss: ISSUER.to_owned(),
            sub: format!("system:serviceaccount:{namespace}:{name}"),
            aud: match audiences.is_empty() {
                true => vec![API_AUDIENCE.to_owned()],
                false => audiences.to_vec(),
            },
            exp: now + seconds,
            iat: now,
            nbf: now,
            jti: hex::encode(id),
            kubernetes: Bound {
                namespace: namespace.to_owned(),
                serviceaccount: Account {
                    name: name.to_owned(),
                    uid: uid.to_owned(),
                },
            },
        };
        let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = b64(&serde_json::to_vec(&claims).expect("JSON"));
        let signed = format!("{header}.{body}");
        let signature = ring::hmac::sign(&self.key, signed.as_bytes());
        (format!("{signed}.{}", b64(signature.as_ref())), claims)
    }

    /// The claims of `token` if this node signed it, it is good at `now`
    /// and it is for this API. Whether its account still exists is the
    /// caller's to check.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(body), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let decode = |part: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| TokenError::Malformed)
        };
        let signature = decode(signature)?;
        let signed = &token[..header.len() + 1 + body.len()];
        ring::hmac::verify(&self.key, signed.as_bytes(), &signature)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims =
            serde_json::from_slice(&decode(body)?).map_err(|_| TokenError::Malformed)?;
        // A minute of leeway for clocks of a cluster's nodes.
        if now >= claims.exp + 60 || now + 60 < claims.nbf {
            let at = jiff::Timestamp::from_second(claims.exp)
                .map(|t| t.to_string())
                .unwrap_or_default();
            return Err(TokenError::Expired(at));
        }
        if !claims.aud.iter().any(|a| a == API_AUDIENCE || a == ISSUER) {
            return Err(TokenError::Audience(claims.aud));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_until_it_expires_and_only_with_its_key() {
        let signer = Signer::new("admin-token");
        let (token, claims) = signer.issue("team", "viewer", "uid-1", &[], 1_000, 600);
        assert_eq!(token.matches('.').count(), 2);
        assert_eq!(signer.verify(&token, 1_000).unwrap(), claims);
        assert_eq!(claims.sub, "system:serviceaccount:team:viewer");
        assert_eq!(claims.kubernetes.serviceaccount.uid, "uid-1");
        assert_eq!(signer.verify(&token, 1_599 + 60).unwrap().exp, 1_600);
        assert!(matches!(
            signer.verify(&token, 1_660),
            Err(TokenError::Expired(_))
        ));
        // Another node's key (another admin token) does not verify it.
        let other = Signer::new("another-token");
        assert_eq!(other.verify(&token, 1_000), Err(TokenError::Signature));
        // Nor does a token whose claims were changed.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = b64(br#"{"sub":"system:serviceaccount:kube-system:admin"}"#);
        parts[1] = &forged;
        assert_eq!(
            signer.verify(&parts.join("."), 1_000),
            Err(TokenError::Signature)
        );
        for junk in ["", "a.b", "a.b.c.d", "!!.!!.!!", "admin-token"] {
            assert!(signer.verify(junk, 1_000).is_err(), "{junk}");
        }
    }

    #[test]
    fn a_token_for_another_audience_is_not_for_this_api() {
        let signer = Signer::new("t");
        let (token, _) = signer.issue("a", "b", "u", &["vault".to_owned()], 0, 600);
        assert_eq!(
            signer.verify(&token, 0),
            Err(TokenError::Audience(vec!["vault".to_owned()]))
        );
    }
}
