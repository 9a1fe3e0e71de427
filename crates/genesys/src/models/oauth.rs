//! OAuth client models (`/api/v2/oauth/...`).

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::DomainEntityRef;
use super::macros::{model, open_enum};

open_enum! {
    /// `authorizedGrantType` (hyphenated on the wire).
    pub enum GrantType {
        ClientCredentials = "CLIENT-CREDENTIALS", Code = "CODE", Token = "TOKEN",
        Saml2Bearer = "SAML2-BEARER", Password = "PASSWORD",
    }
}

open_enum! {
    /// OAuth client `state`.
    pub enum OAuthClientState { Active = "active", Disabled = "disabled", Inactive = "inactive" }
}

/// `RoleDivision`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDivision {
    pub role_id: String,
    pub division_id: String,
}

/// `OAuthClientRequest` (create and full-replace update).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientRequest {
    pub name: String,
    pub authorized_grant_type: GrantType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_validity_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_redirect_uri: Option<Vec<String>>,
    /// Ignored for client-credentials clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_divisions: Option<Vec<RoleDivision>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<OAuthClientState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_to_delete: Option<String>,
}

impl OAuthClientRequest {
    /// A client-credentials client with the given grants.
    pub fn client_credentials(name: impl Into<String>, role_divisions: Vec<RoleDivision>) -> Self {
        Self {
            name: name.into(),
            authorized_grant_type: GrantType::ClientCredentials,
            description: None,
            access_token_validity_seconds: None,
            registered_redirect_uri: None,
            scope: None,
            role_divisions: Some(role_divisions),
            state: None,
            date_to_delete: None,
        }
    }
}

/// `OAuthClient`. The `secret` is held in a [`SecretString`]: `Debug` redacts it and it is
/// never serialized back.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClient {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub access_token_validity_seconds: Option<i64>,
    #[serde(default)]
    pub registered_redirect_uri: Option<Vec<String>>,
    #[serde(default)]
    pub secret: Option<SecretString>,
    #[serde(default)]
    pub role_ids: Option<Vec<String>>,
    #[serde(default)]
    pub date_created: Option<String>,
    #[serde(default)]
    pub date_modified: Option<String>,
    #[serde(default)]
    pub created_by: Option<DomainEntityRef>,
    #[serde(default)]
    pub modified_by: Option<DomainEntityRef>,
    #[serde(default)]
    pub authorized_grant_type: Option<GrantType>,
    #[serde(default)]
    pub scope: Option<Vec<String>>,
    #[serde(default)]
    pub role_divisions: Option<Vec<RoleDivision>>,
    #[serde(default)]
    pub state: Option<OAuthClientState>,
    #[serde(default)]
    pub date_to_delete: Option<String>,
    #[serde(default)]
    pub self_uri: Option<String>,
}

impl OAuthClient {
    /// The request that would recreate this client as it is (for read-modify-write updates).
    pub fn to_request(&self) -> OAuthClientRequest {
        OAuthClientRequest {
            name: self.name.clone().unwrap_or_default(),
            authorized_grant_type: self
                .authorized_grant_type
                .clone()
                .unwrap_or(GrantType::ClientCredentials),
            description: self.description.clone(),
            access_token_validity_seconds: self.access_token_validity_seconds,
            registered_redirect_uri: self.registered_redirect_uri.clone(),
            scope: self.scope.clone(),
            role_divisions: self.role_divisions.clone(),
            state: self.state.clone(),
            date_to_delete: self.date_to_delete.clone(),
        }
    }
}

model! {
    /// `OAuthScope`.
    pub struct OAuthScope {
        pub id: String,
        pub description: String,
        pub self_uri: String,
    }
}

model! {
    /// `OAuthScopeListing`.
    pub struct OAuthScopeListing {
        pub total: i64,
        pub entities: Vec<OAuthScope>,
        pub self_uri: String,
    }
}
