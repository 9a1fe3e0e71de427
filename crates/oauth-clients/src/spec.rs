//! What the user asks for: a client specification from flags or a TOML/JSON file.
//!
//! ```toml
//! name = "reporting-export"
//! description = "Nightly analytics export"
//! grant_type = "CLIENT-CREDENTIALS"
//! profile = "reporting"
//! token_lifetime_seconds = 3600
//! roles = [{ role = "Analytics Reader", division = "Home" }]
//! # user-delegated grants instead: scopes = ["analytics:readonly"], redirect_uris = ["https://..."]
//! # scim = true   (a SCIM provisioning client: allows token lifetimes up to 38,880,000 s)
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::toml_message;
use crate::error::Error;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientSpec {
    pub name: String,
    pub description: Option<String>,
    /// One of `CODE`, `TOKEN`, `SAML2-BEARER`, `PASSWORD`, `CLIENT-CREDENTIALS`.
    pub grant_type: String,
    /// Baseline profile from the governance configuration.
    pub profile: Option<String>,
    /// Role grants (client-credentials only).
    pub roles: Vec<RoleSpec>,
    /// Scopes (user-delegated grants only).
    pub scopes: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub token_lifetime_seconds: Option<i64>,
    /// Marks a SCIM provisioning client (longer token lifetimes allowed).
    pub scim: bool,
}

/// A role granted in a division; each given as an id or a name. Without a division the home
/// division is used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoleSpec {
    pub role: String,
    pub division: Option<String>,
}

impl RoleSpec {
    /// Parses the `--role ROLE[@DIVISION]` flag form.
    pub fn parse_flag(s: &str) -> RoleSpec {
        match s.rsplit_once('@') {
            Some((r, d)) if !d.trim().is_empty() => RoleSpec {
                role: r.trim().to_string(),
                division: Some(d.trim().to_string()),
            },
            _ => RoleSpec {
                role: s.trim().trim_end_matches('@').to_string(),
                division: None,
            },
        }
    }
}

impl ClientSpec {
    /// Reads a spec file: JSON when the name ends in `.json`, TOML otherwise. Errors name the
    /// file and the line.
    pub fn from_path(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Spec {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let parsed = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(|e| format!("line {}: {e}", e.line()))
        } else {
            toml::from_str(&text).map_err(|e| toml_message(&text, &e))
        };
        parsed.map_err(|message| Error::Spec {
            path: path.display().to_string(),
            message,
        })
    }
}

/// Description marker by which gcprov recognises its profile and the SCIM flag on clients it
/// created: ` [gcprov profile=reporting scim]`. Genesys has no labels on OAuth clients, so the
/// description is the only place that survives a round trip.
pub fn marker(profile: Option<&str>, scim: bool) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(p) = profile {
        parts.push(format!("profile={p}"));
    }
    if scim {
        parts.push("scim".to_string());
    }
    if parts.is_empty() {
        None
    } else {
        Some(format!("[gcprov {}]", parts.join(" ")))
    }
}

/// The profile and SCIM flag read back from a description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marker {
    pub profile: Option<String>,
    pub scim: bool,
}

pub fn parse_marker(description: Option<&str>) -> Marker {
    let Some(d) = description else {
        return Marker::default();
    };
    let Some(start) = d.rfind("[gcprov ") else {
        return Marker::default();
    };
    let rest = &d[start + "[gcprov ".len()..];
    let Some(end) = rest.find(']') else {
        return Marker::default();
    };
    let mut m = Marker::default();
    for part in rest[..end].split_whitespace() {
        if let Some(p) = part.strip_prefix("profile=") {
            m.profile = Some(p.to_string());
        } else if part == "scim" {
            m.scim = true;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_flags() {
        assert_eq!(
            RoleSpec::parse_flag("Reader@Sales"),
            RoleSpec {
                role: "Reader".into(),
                division: Some("Sales".into())
            }
        );
        assert_eq!(RoleSpec::parse_flag("Reader").division, None);
    }

    #[test]
    fn markers_round_trip() {
        let m = marker(Some("reporting"), true).unwrap_or_default();
        let d = format!("Nightly export {m}");
        assert_eq!(
            parse_marker(Some(&d)),
            Marker {
                profile: Some("reporting".into()),
                scim: true
            }
        );
        assert_eq!(parse_marker(Some("plain")), Marker::default());
    }
}
