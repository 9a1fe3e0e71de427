//! Wire models (names and fields from the official SDK models, reference
//! `genesys-models-key.txt`). Response fields are all optional, unknown fields are ignored and
//! unknown enum values are kept, so a newer API does not break the client.

mod macros;
mod oauth;
mod scim;

pub use oauth::*;
pub use scim::*;

use macros::{model, open_enum};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------- enums

open_enum! {
    /// `active | inactive | deleted` (users, groups, skills, ...).
    pub enum EntityState { Active = "active", Inactive = "inactive", Deleted = "deleted" }
}

open_enum! {
    /// `Contact.mediaType`.
    pub enum MediaType { Phone = "PHONE", Email = "EMAIL", Sms = "SMS" }
}

open_enum! {
    /// `Contact.type`.
    pub enum ContactType {
        Primary = "PRIMARY", Work = "WORK", Work2 = "WORK2", Work3 = "WORK3", Work4 = "WORK4",
        Home = "HOME", Mobile = "MOBILE", Main = "MAIN", Other = "OTHER",
    }
}

open_enum! {
    /// `UserSearchCriteria.type` / `GroupSearchCriteria.type`.
    pub enum SearchType {
        Exact = "EXACT", StartsWith = "STARTS_WITH", Contains = "CONTAINS", Regex = "REGEX",
        Term = "TERM", Terms = "TERMS", RequiredFields = "REQUIRED_FIELDS", MatchAll = "MATCH_ALL",
        QueryString = "QUERY_STRING", Range = "RANGE", LessThan = "LESS_THAN",
        LessThanEqualTo = "LESS_THAN_EQUAL_TO", GreaterThan = "GREATER_THAN",
        GreaterThanEqualTo = "GREATER_THAN_EQUAL_TO",
    }
}

open_enum! {
    /// Search criteria `operator`.
    pub enum SearchOperator { And = "AND", Or = "OR", Not = "NOT" }
}

open_enum! {
    /// Search `sortOrder`.
    pub enum SearchSortOrder { Asc = "ASC", Desc = "DESC", Score = "SCORE" }
}

open_enum! {
    /// `Group.type`.
    pub enum GroupType { Official = "official", Social = "social" }
}

open_enum! {
    /// `Group.visibility` (`GroupUpdate` in the swagger also lists `ownerIds`).
    pub enum GroupVisibility { Public = "public", Owners = "owners", Members = "members", OwnerIds = "ownerIds" }
}

open_enum! {
    /// `subjectType` query value of grant operations.
    pub enum SubjectType { User = "PC_USER", Group = "PC_GROUP", OAuthClient = "PC_OAUTH_CLIENT" }
}

open_enum! {
    /// `UserState.stateChangeReason`.
    pub enum StateChangeReason {
        Voluntary = "Voluntary", Seasonal = "Seasonal", Leave = "Leave", Performance = "Performance",
        Conduct = "Conduct", UnknownReason = "Unknown",
    }
}

// ---------------------------------------------------------------- secrets

/// A password in a request body: serialized as the plain string (the API needs it), but
/// `Debug` never shows it, so logging a request model cannot leak it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn new(p: impl Into<String>) -> Self {
        Self(p.into())
    }

    /// The plain value (for the request body only).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Self(s)
    }
}

// ---------------------------------------------------------------- errors

model! {
    /// Platform API error body (`contextId` = `ININ-Correlation-Id`).
    pub struct ErrorBody {
        pub message: String,
        pub code: String,
        pub status: i64,
        pub entity_id: String,
        pub entity_name: String,
        pub message_with_params: String,
        pub message_params: std::collections::BTreeMap<String, String>,
        pub context_id: String,
        pub details: Vec<ErrorDetail>,
        pub errors: Vec<ErrorBody>,
        pub limit: Limit,
    }
}

model! {
    /// `Detail` of an [`ErrorBody`].
    pub struct ErrorDetail {
        pub error_code: String,
        pub field_name: String,
        pub entity_id: String,
        pub entity_name: String,
    }
}

model! {
    /// `Limit` on some 429 bodies.
    pub struct Limit {
        pub key: String,
        pub namespace: String,
        pub value: i64,
    }
}

model! {
    /// OAuth-style error of the login service.
    pub struct OAuthErrorBody {
        pub error: String,
        pub description: String,
        #[serde(rename = "error_description")]
        pub error_description: String,
    }
}

// ---------------------------------------------------------------- common

model! {
    /// `{id, name, selfUri}` reference.
    pub struct DomainEntityRef {
        pub id: String,
        pub name: String,
        pub self_uri: String,
    }
}

model! {
    pub struct Division {
        pub id: String,
        pub name: String,
        pub self_uri: String,
    }
}

model! {
    /// `AuthzDivision` (`/api/v2/authorization/divisions`).
    pub struct AuthzDivision {
        pub id: String,
        pub name: String,
        pub description: String,
        pub home_division: bool,
        pub object_counts: std::collections::BTreeMap<String, i64>,
        pub self_uri: String,
    }
}

/// Page of a `pageSize`/`pageNumber` listing (`…EntityListing`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityListing<T> {
    #[serde(default = "Vec::new")]
    pub entities: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_number: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_uri: Option<String>,
}

impl<T> Default for EntityListing<T> {
    fn default() -> Self {
        Self {
            entities: Vec::new(),
            page_size: None,
            page_number: None,
            total: None,
            page_count: None,
            first_uri: None,
            self_uri: None,
            next_uri: None,
            previous_uri: None,
            last_uri: None,
        }
    }
}

/// Result of `POST …/search` (`UsersSearchResponse`, `GroupsSearchResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResponse<T> {
    #[serde(default = "Vec::new")]
    pub results: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_number: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
}

// ---------------------------------------------------------------- users

model! {
    pub struct Contact {
        pub address: String,
        pub display: String,
        pub media_type: MediaType,
        #[serde(rename = "type")]
        pub contact_type: ContactType,
        pub extension: String,
        pub country_code: String,
        pub integration: String,
    }
}

model! {
    pub struct Chat {
        pub jabber_id: String,
    }
}

model! {
    pub struct Image {
        pub resolution: String,
        pub image_uri: String,
    }
}

model! {
    pub struct EmployerInfo {
        pub official_name: String,
        pub employee_id: String,
        pub employee_type: String,
        pub date_hire: String,
    }
}

model! {
    pub struct Biography {
        pub biography: String,
        pub interests: Vec<String>,
        pub hobbies: Vec<String>,
        pub spouse: String,
        pub education: Vec<serde_json::Value>,
    }
}

model! {
    /// A Genesys Cloud user (`User`). Expand-only sections that gcprov does not interpret are
    /// kept as raw JSON.
    pub struct User {
        pub id: String,
        pub name: String,
        pub division: Division,
        pub chat: Chat,
        pub department: String,
        pub email: String,
        pub primary_contact_info: Vec<Contact>,
        pub addresses: Vec<Contact>,
        pub state: EntityState,
        pub title: String,
        pub username: String,
        pub manager: Box<User>,
        pub images: Vec<Image>,
        /// Integer version for optimistic locking (search results may send it as a string).
        #[serde(deserialize_with = "de_opt_version")]
        pub version: i64,
        pub certifications: Vec<String>,
        pub biography: Biography,
        pub employer_info: EmployerInfo,
        pub preferred_name: String,
        pub routing_status: serde_json::Value,
        pub presence: serde_json::Value,
        pub authorization: UserAuthorization,
        pub profile_skills: Vec<String>,
        pub locations: Vec<serde_json::Value>,
        pub groups: Vec<Group>,
        pub team: serde_json::Value,
        pub skills: Vec<UserRoutingSkill>,
        pub languages: Vec<UserRoutingLanguage>,
        pub acd_auto_answer: bool,
        pub language_preference: String,
        pub date_last_login: String,
        pub date_welcome_sent: String,
        pub self_uri: String,
    }
}

/// Accepts an integer or a numeric string (the search docs show `"version":"152"`).
pub(crate) fn de_opt_version<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        I(i64),
        S(String),
    }
    match Option::<V>::deserialize(d)? {
        None => Ok(None),
        Some(V::I(i)) => Ok(Some(i)),
        Some(V::S(s)) => s.trim().parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// `POST /api/v2/users` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateUser {
    pub name: String,
    /// Email and username.
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Redacted in `Debug`; serialized only into the request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Password>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<Contact>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<EntityState>,
}

/// `PATCH /api/v2/users/{id}` body; `version` is required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUser {
    pub version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_name: Option<String>,
    /// Manager user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<Contact>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_contact_info: Option<Vec<Contact>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<Chat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<Image>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_skills: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certifications: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acd_auto_answer: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employer_info: Option<EmployerInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biography: Option<Biography>,
    /// If set, the only field the API modifies (restore / activate / deactivate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<EntityState>,
}

model! {
    /// `UserState` (`/api/v2/users/{id}/state`).
    pub struct UserState {
        pub state: EntityState,
        pub version: i64,
        pub state_change_reason: StateChangeReason,
        pub state_change_date: String,
    }
}

model! {
    /// One search criterion (users and groups).
    pub struct SearchCriteria {
        #[serde(rename = "type")]
        pub search_type: SearchType,
        pub fields: Vec<String>,
        pub value: String,
        pub values: Vec<String>,
        pub start_value: String,
        pub end_value: String,
        pub date_format: String,
        pub operator: SearchOperator,
        pub group: Vec<SearchCriteria>,
    }
}

impl SearchCriteria {
    /// `{type: EXACT, fields: [field], value}`.
    pub fn exact(field: &str, value: &str) -> Self {
        Self {
            search_type: Some(SearchType::Exact),
            fields: Some(vec![field.to_string()]),
            value: Some(value.to_string()),
            ..Default::default()
        }
    }

    /// `{type, fields: [field], value}`.
    pub fn of(search_type: SearchType, field: &str, value: &str) -> Self {
        Self {
            search_type: Some(search_type),
            fields: Some(vec![field.to_string()]),
            value: Some(value.to_string()),
            ..Default::default()
        }
    }

    /// `{type: EXACT, fields: [field], values}`.
    pub fn exact_any(field: &str, values: &[&str]) -> Self {
        Self {
            search_type: Some(SearchType::Exact),
            fields: Some(vec![field.to_string()]),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
            ..Default::default()
        }
    }
}

model! {
    pub struct SearchSort {
        pub sort_order: SearchSortOrder,
        pub sort_by: String,
    }
}

model! {
    /// `UserSearchRequest` / `GroupSearchRequest`.
    pub struct SearchRequest {
        pub sort_order: SearchSortOrder,
        pub sort_by: String,
        pub page_size: i64,
        pub page_number: i64,
        pub sort: Vec<SearchSort>,
        pub expand: Vec<String>,
        pub query: Vec<SearchCriteria>,
        pub enforce_permissions: bool,
    }
}

impl SearchRequest {
    /// A request matching all criteria.
    pub fn new(query: Vec<SearchCriteria>) -> Self {
        Self {
            query: Some(query),
            ..Default::default()
        }
    }
}

model! {
    /// `UserExternalIdentifier`.
    pub struct UserExternalIdentifier {
        pub authority_name: String,
        pub external_key: String,
        pub self_uri: String,
    }
}

// ---------------------------------------------------------------- routing

model! {
    pub struct UserRoutingSkill {
        pub id: String,
        pub name: String,
        pub proficiency: f64,
        pub state: EntityState,
        pub skill_uri: String,
        pub self_uri: String,
    }
}

/// `UserRoutingSkillPost` (bulk assignment item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRoutingSkillPost {
    pub id: String,
    pub proficiency: f64,
}

model! {
    pub struct UserRoutingLanguage {
        pub id: String,
        pub name: String,
        pub proficiency: f64,
        pub state: EntityState,
        pub language_uri: String,
        pub self_uri: String,
    }
}

/// `UserRoutingLanguagePost` (bulk assignment item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRoutingLanguagePost {
    pub id: String,
    pub proficiency: f64,
}

model! {
    /// Catalogue skill (`RoutingSkill`); `version` is a string here.
    pub struct RoutingSkill {
        pub id: String,
        pub name: String,
        pub division: Division,
        pub date_modified: String,
        pub state: EntityState,
        pub version: String,
        pub self_uri: String,
    }
}

/// `CreateRoutingSkill`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoutingSkill {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division_id: Option<String>,
}

model! {
    /// Catalogue language (`Language`).
    pub struct Language {
        pub id: String,
        pub name: String,
        pub date_modified: String,
        pub state: EntityState,
        pub version: String,
        pub self_uri: String,
    }
}

model! {
    /// `QueueMember`.
    pub struct QueueMember {
        pub id: String,
        pub name: String,
        pub user: User,
        pub ring_number: i64,
        pub joined: bool,
        pub member_by: String,
        pub routing_status: serde_json::Value,
        pub self_uri: String,
    }
}

model! {
    /// `UserQueue` (the fields gcprov uses).
    pub struct UserQueue {
        pub id: String,
        pub name: String,
        pub division: Division,
        pub description: String,
        pub member_count: i64,
        pub joined_member_count: i64,
        pub joined: bool,
        pub self_uri: String,
    }
}

/// `WritableEntity` (`{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WritableEntity {
    pub id: String,
}

// ---------------------------------------------------------------- authorization

model! {
    pub struct DomainRole {
        pub id: String,
        pub name: String,
    }
}

model! {
    /// `UserAuthorization` (`/api/v2/users/{id}/roles`).
    pub struct UserAuthorization {
        pub roles: Vec<DomainRole>,
        pub unused_roles: Vec<DomainRole>,
        pub permissions: Vec<String>,
        pub permission_policies: Vec<serde_json::Value>,
    }
}

model! {
    /// `DomainOrganizationRole` (role catalogue entry).
    pub struct OrganizationRole {
        pub id: String,
        pub name: String,
        pub description: String,
        pub default_role_id: String,
        pub permissions: Vec<String>,
        pub permission_policies: Vec<serde_json::Value>,
        pub user_count: i64,
        pub role_needs_update: bool,
        pub base: bool,
        pub default: bool,
        pub self_uri: String,
    }
}

/// `RoleDivisionPair`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleDivisionPair {
    pub role_id: String,
    pub division_id: String,
}

/// `RoleDivisionGrants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDivisionGrants {
    pub grants: Vec<RoleDivisionPair>,
}

model! {
    pub struct AuthzGrantRole {
        pub id: String,
        pub name: String,
        pub description: String,
        pub default: bool,
        pub policies: Vec<serde_json::Value>,
    }
}

model! {
    pub struct AuthzGrant {
        pub subject_id: String,
        pub division: AuthzDivision,
        pub role: AuthzGrantRole,
        pub grant_made_at: String,
    }
}

model! {
    /// `SubjectDivisionGrants`: one subject holding a role, with the divisions of its grants of
    /// that role (entities of `GET /api/v2/authorization/roles/{roleId}/subjectgrants`).
    /// `type` is the subject kind; the reference does not list its values, so it is kept as a
    /// string (`PC_USER` and `PC_GROUP` are the `subjectType` values of the grant operations).
    pub struct SubjectDivisionGrants {
        pub id: String,
        pub name: String,
        pub divisions: Vec<Division>,
        #[serde(rename = "type")]
        pub subject_type: String,
        pub self_uri: String,
    }
}

model! {
    /// `AuthzSubject` (`/api/v2/authorization/subjects/{id}`).
    pub struct AuthzSubject {
        pub id: String,
        pub name: String,
        pub grants: Vec<AuthzGrant>,
        pub version: i64,
        pub self_uri: String,
    }
}

// ---------------------------------------------------------------- groups

model! {
    pub struct GroupContact {
        pub address: String,
        pub extension: String,
        pub display: String,
        #[serde(rename = "type")]
        pub contact_type: String,
        pub media_type: String,
    }
}

model! {
    /// `Group`.
    pub struct Group {
        pub id: String,
        pub name: String,
        pub description: String,
        pub date_modified: String,
        pub member_count: i64,
        pub state: EntityState,
        pub version: i64,
        #[serde(rename = "type")]
        pub group_type: GroupType,
        pub images: Vec<Image>,
        pub addresses: Vec<GroupContact>,
        pub rules_visible: bool,
        pub visibility: GroupVisibility,
        pub roles_enabled: bool,
        pub include_owners: bool,
        pub calls_enabled: bool,
        pub email: String,
        pub owners: Vec<User>,
        pub self_uri: String,
    }
}

/// `GroupCreate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCreate {
    pub name: String,
    #[serde(rename = "type")]
    pub group_type: GroupType,
    pub rules_visible: bool,
    pub visibility: GroupVisibility,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_owners: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_ids: Option<Vec<String>>,
}

impl GroupCreate {
    /// An official, public group with visible rules.
    pub fn official(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            group_type: GroupType::Official,
            rules_visible: true,
            visibility: GroupVisibility::Public,
            description: None,
            roles_enabled: None,
            include_owners: None,
            calls_enabled: None,
            email: None,
            owner_ids: None,
        }
    }
}

/// `GroupUpdate` (PUT); `version` is required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupUpdate {
    pub version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<EntityState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_visible: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<GroupVisibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_owners: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_ids: Option<Vec<String>>,
}

/// `GroupMembersUpdate` (max 50 ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMembersUpdate {
    pub member_ids: Vec<String>,
    pub version: i64,
}

// ---------------------------------------------------------------- audits

model! {
    pub struct AuditQueryFilter {
        pub property: String,
        pub value: String,
    }
}

model! {
    pub struct AuditQuerySort {
        pub name: String,
        pub sort_order: String,
    }
}

model! {
    /// `AuditRealtimeQueryRequest`; `interval` is `start/end` in ISO-8601.
    pub struct AuditRealtimeQueryRequest {
        pub interval: String,
        pub service_name: String,
        pub filters: Vec<AuditQueryFilter>,
        pub sort: Vec<AuditQuerySort>,
        pub page_number: i64,
        pub page_size: i64,
    }
}

model! {
    /// `AuditLogMessage`.
    pub struct AuditLogMessage {
        pub id: String,
        pub user_home_org_id: String,
        pub user: DomainEntityRef,
        pub client: DomainEntityRef,
        pub remote_ip: Vec<String>,
        pub service_name: String,
        pub level: String,
        pub event_date: String,
        pub message: serde_json::Value,
        pub action: String,
        pub entity: DomainEntityRef,
        pub entity_type: String,
        pub status: String,
        pub application: String,
        pub initiating_action: serde_json::Value,
        pub transaction_initiator: bool,
        pub property_changes: Vec<serde_json::Value>,
        pub context: std::collections::BTreeMap<String, String>,
        pub entity_changes: Vec<serde_json::Value>,
    }
}

model! {
    /// `AuditRealtimeQueryResultsResponse`.
    pub struct AuditRealtimeQueryResults {
        pub entities: Vec<AuditLogMessage>,
        pub page_size: i64,
        pub page_number: i64,
        pub total: i64,
        pub page_count: i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_enum_values_are_tolerated() {
        let u: User = serde_json::from_str(
            r#"{"id":"1","name":"A","state":"suspended","version":"152","brandNewField":{"x":1},
               "addresses":[{"address":"+1","mediaType":"FAX","type":"WORK5"}]}"#,
        )
        .unwrap();
        assert_eq!(u.state, Some(EntityState::Unknown("suspended".into())));
        assert_eq!(u.version, Some(152));
        let a = &u.addresses.as_ref().unwrap()[0];
        assert_eq!(a.media_type, Some(MediaType::Unknown("FAX".into())));
        assert_eq!(a.contact_type, Some(ContactType::Unknown("WORK5".into())));
        // Round trip keeps the unknown value.
        let back = serde_json::to_value(&u).unwrap();
        assert_eq!(back["state"], "suspended");
        assert!(back.get("title").is_none());
        let empty: User = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, User::default());
    }

    #[test]
    fn error_body_and_listing() {
        let e: ErrorBody = serde_json::from_str(
            r#"{"message":"m","code":"too.many.requests.retry.after","status":429,"contextId":"c1",
               "details":[],"errors":[],"limit":{"key":"k","namespace":"platform.api","value":300}}"#,
        )
        .unwrap();
        assert_eq!(e.code.as_deref(), Some("too.many.requests.retry.after"));
        assert_eq!(e.limit.unwrap().value, Some(300));
        let l: EntityListing<Group> = serde_json::from_str(
            r#"{"entities":[{"id":"g","type":"official","visibility":"members"}],"pageCount":1}"#,
        )
        .unwrap();
        assert_eq!(l.entities[0].group_type, Some(GroupType::Official));
        let l: EntityListing<Group> = serde_json::from_str("{}").unwrap();
        assert!(l.entities.is_empty());
    }

    #[test]
    fn scim_models() {
        let u: ScimV2User = serde_json::from_str(
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"u","userName":"a@b",
                "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User":{"routingSkills":[{"name":"S","proficiency":3}]},
                "groups":[{"value":"g","$ref":"/x"}],"meta":{"version":"\"3\""}}"#,
        )
        .unwrap();
        assert_eq!(
            u.genesys.unwrap().routing_skills.unwrap()[0]
                .name
                .as_deref(),
            Some("S")
        );
        assert_eq!(u.groups.unwrap()[0].reference.as_deref(), Some("/x"));
        let e: ScimErrorBody =
            serde_json::from_str(r#"{"status":409,"scimType":"invalidVers","detail":"d"}"#)
                .unwrap();
        assert_eq!(e.status.as_deref(), Some("409"));
        let p = ScimPatchRequest::new(vec![ScimPatchOperation {
            op: ScimPatchOpKind::Replace,
            path: Some("active".into()),
            value: Some(serde_json::json!(false)),
        }]);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["Operations"][0]["op"], "replace");
    }

    #[test]
    fn passwords_are_redacted_in_debug_but_sent() {
        let u = CreateUser {
            name: "n".into(),
            email: "e@x".into(),
            password: Some("hunter2-secret".into()),
            ..Default::default()
        };
        assert!(!format!("{u:?}").contains("hunter2-secret"));
        assert_eq!(
            serde_json::to_value(&u).unwrap()["password"],
            "hunter2-secret"
        );
        let s = ScimV2User {
            password: Some("hunter3-secret".into()),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("hunter3-secret"));
        assert_eq!(
            serde_json::to_value(&s).unwrap()["password"],
            "hunter3-secret"
        );
    }

    #[test]
    fn oauth_client_secret_is_redacted() {
        let c: OAuthClient = serde_json::from_str(
            r#"{"id":"c","name":"n","secret":"TOPSECRETVALUE","authorizedGrantType":"CLIENT-CREDENTIALS","state":"frozen"}"#,
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("TOPSECRETVALUE"));
        assert_eq!(c.authorized_grant_type, Some(GrantType::ClientCredentials));
        assert_eq!(c.state, Some(OAuthClientState::Unknown("frozen".into())));
        let req = serde_json::to_value(c.to_request()).unwrap();
        assert!(!req.to_string().contains("TOPSECRETVALUE"));
    }
}
