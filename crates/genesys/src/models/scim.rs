//! SCIM 2.0 models of the Genesys Cloud SCIM API (`/api/v2/scim/v2/...`).

use serde::{Deserialize, Serialize};

use super::macros::{model, open_enum};

/// Core user schema URN.
pub const SCIM_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core group schema URN.
pub const SCIM_GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise user extension URN.
pub const SCIM_ENTERPRISE_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Genesys user extension URN.
pub const SCIM_GENESYS_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User";
/// PATCH message URN.
pub const SCIM_PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Error message URN.
pub const SCIM_ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

open_enum! {
    /// `ScimV2PatchOperation.op`.
    pub enum ScimPatchOpKind { Add = "add", Replace = "replace", Remove = "remove" }
}

model! {
    pub struct ScimEmail {
        pub value: String,
        #[serde(rename = "type")]
        pub email_type: String,
        pub primary: bool,
    }
}

model! {
    pub struct ScimPhoneNumber {
        pub value: String,
        #[serde(rename = "type")]
        pub phone_type: String,
        pub primary: bool,
    }
}

model! {
    /// Group reference on a user / member reference on a group.
    pub struct ScimReference {
        #[serde(rename = "type")]
        pub ref_type: String,
        pub value: String,
        #[serde(rename = "$ref")]
        pub reference: String,
        pub display: String,
    }
}

model! {
    pub struct ScimUserRole {
        pub value: String,
    }
}

model! {
    pub struct ScimManager {
        pub value: String,
        #[serde(rename = "$ref")]
        pub reference: String,
    }
}

model! {
    pub struct ScimV2EnterpriseUser {
        pub division: String,
        pub department: String,
        pub manager: ScimManager,
        pub employee_number: String,
        pub date_hire: String,
    }
}

model! {
    pub struct ScimUserRoutingSkill {
        pub name: String,
        pub proficiency: f64,
    }
}

model! {
    pub struct ScimUserRoutingLanguage {
        pub name: String,
        pub proficiency: f64,
    }
}

model! {
    pub struct ScimGenesysUserExternalId {
        pub authority: String,
        pub value: String,
    }
}

model! {
    pub struct ScimUserExtensions {
        pub routing_skills: Vec<ScimUserRoutingSkill>,
        pub routing_languages: Vec<ScimUserRoutingLanguage>,
        pub external_ids: Vec<ScimGenesysUserExternalId>,
    }
}

model! {
    pub struct ScimMetadata {
        pub resource_type: String,
        pub last_modified: String,
        pub location: String,
        /// Matches the `ETag` header (quoted version).
        pub version: String,
    }
}

model! {
    /// `ScimV2User` (also the create body `ScimV2CreateUser`, which has no `id`/`meta`).
    pub struct ScimV2User {
        pub schemas: Vec<String>,
        pub id: String,
        pub external_id: String,
        pub user_name: String,
        pub display_name: String,
        pub active: bool,
        /// Write-only; never returned; redacted in `Debug`.
        pub password: super::Password,
        pub title: String,
        pub emails: Vec<ScimEmail>,
        pub phone_numbers: Vec<ScimPhoneNumber>,
        pub groups: Vec<ScimReference>,
        pub roles: Vec<ScimUserRole>,
        #[serde(rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")]
        pub enterprise: ScimV2EnterpriseUser,
        #[serde(rename = "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User")]
        pub genesys: ScimUserExtensions,
        pub meta: ScimMetadata,
    }
}

model! {
    /// `ScimV2Group` (groups cannot be created or deleted through SCIM).
    pub struct ScimV2Group {
        pub schemas: Vec<String>,
        pub id: String,
        pub display_name: String,
        pub external_id: String,
        pub members: Vec<ScimReference>,
        pub meta: ScimMetadata,
    }
}

/// `ScimV2PatchOperation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimPatchOperation {
    pub op: ScimPatchOpKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// `ScimV2PatchRequest` (note the capital `Operations`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScimPatchRequest {
    pub schemas: Vec<String>,
    #[serde(rename = "Operations")]
    pub operations: Vec<ScimPatchOperation>,
}

impl ScimPatchRequest {
    pub fn new(operations: Vec<ScimPatchOperation>) -> Self {
        Self {
            schemas: vec![SCIM_PATCH_OP.to_string()],
            operations,
        }
    }
}

model! {
    /// SCIM error (`ScimError`); `status` is a string on the wire.
    pub struct ScimErrorBody {
        pub schemas: Vec<String>,
        #[serde(deserialize_with = "de_opt_stringish")]
        pub status: String,
        pub scim_type: String,
        pub detail: String,
    }
}

/// SCIM `ListResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScimListResponse<T> {
    #[serde(default)]
    pub schemas: Option<Vec<String>>,
    #[serde(default)]
    pub total_results: Option<i64>,
    #[serde(default)]
    pub start_index: Option<i64>,
    #[serde(default)]
    pub items_per_page: Option<i64>,
    #[serde(rename = "Resources", default = "Vec::new")]
    pub resources: Vec<T>,
}

/// Accepts `"409"` or `409`.
fn de_opt_stringish<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}
