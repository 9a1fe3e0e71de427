//! The client secret while it is in gcprov's memory: between the Genesys response and its
//! delivery. It lives in a [`SecretString`] (redacted `Debug`, zeroed on drop) and only its
//! fingerprint and masked form ever leave this module in a form meant for storage.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A freshly issued client secret. Not `Clone`, not `Serialize`: it is handed to one sink and
/// dropped (zeroed) right after.
pub struct IssuedSecret {
    client_id: String,
    secret: SecretString,
}

impl std::fmt::Debug for IssuedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSecret")
            .field("client_id", &self.client_id)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

impl IssuedSecret {
    pub fn new(client_id: impl Into<String>, secret: SecretString) -> Self {
        Self {
            client_id: client_id.into(),
            secret,
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The secret itself, for a sink to write. Callers must not log or store it.
    pub fn expose(&self) -> &str {
        self.secret.expose_secret()
    }

    /// What may be stored and audited about this secret.
    pub fn fingerprint(&self) -> SecretFingerprint {
        fingerprint(self.expose())
    }
}

/// The SHA-256 (hex) of a secret and its masked form (first 4 and last 4 characters; fully
/// masked when the secret is shorter than 16 characters, so the mask never reveals half of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretFingerprint {
    pub sha256: String,
    pub masked: String,
}

pub fn fingerprint(secret: &str) -> SecretFingerprint {
    let sha256 = hex::encode(Sha256::digest(secret.as_bytes()));
    let chars: Vec<char> = secret.chars().collect();
    let masked = if chars.len() < 16 {
        "*".repeat(8)
    } else {
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}…{tail}")
    };
    SecretFingerprint { sha256, masked }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_hashes() {
        let f = fingerprint("abcdEFGHijklMNOPqrst");
        assert_eq!(f.masked, "abcd…qrst");
        assert_eq!(f.sha256.len(), 64);
        assert_eq!(fingerprint("short").masked, "********");
        let s = IssuedSecret::new("id", SecretString::from("abcdEFGHijklMNOPqrst"));
        assert!(!format!("{s:?}").contains("EFGH"));
    }
}
