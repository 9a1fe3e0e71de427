//! Matching and diff: desired users against the org, as the smallest set of writes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use gcprov_policy::Policy;
use serde::{Deserialize, Serialize};

use crate::desired::{ColumnMapping, DesiredUser};
use crate::error::{Error, Result};
use crate::org::{ActualGroup, ActualUser, Catalog, Held, Org, RoleGrants, UserState};
use gcprov_genesys::GenesysClient;
use gcprov_genesys::api::DIVISION_OBJECT_CHUNK;
use gcprov_genesys::models::RoleDivisionPair;

/// A list that is empty in most plan items: one pointer (8 bytes) where a `Vec` takes 24, so a
/// million create items do not carry seven empty `Vec`s each. Reads as a slice; serialises as
/// a JSON array, like the `Vec` it replaced (the plan file format is unchanged).
#[derive(Debug, Clone)]
pub struct Sparse<T>(
    // A `Box<[T]>` would take 16 bytes; the extra indirection only costs the rare non-empty list.
    #[allow(clippy::box_collection)] Option<Box<Vec<T>>>,
);

impl<T> Default for Sparse<T> {
    fn default() -> Self {
        Sparse(None)
    }
}

impl<T> Sparse<T> {
    pub fn new() -> Self {
        Sparse(None)
    }

    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|v| v.is_empty())
    }

    pub fn push(&mut self, x: T) {
        self.0.get_or_insert_with(Default::default).push(x);
    }
}

/// Equal when the elements are (an empty list is empty however it was made).
impl<T: PartialEq> PartialEq for Sparse<T> {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

impl<T> std::ops::Deref for Sparse<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl<T> From<Vec<T>> for Sparse<T> {
    fn from(v: Vec<T>) -> Self {
        if v.is_empty() {
            Sparse(None)
        } else {
            Sparse(Some(Box::new(v)))
        }
    }
}

impl<T> FromIterator<T> for Sparse<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        iter.into_iter().collect::<Vec<T>>().into()
    }
}

impl<'a, T> IntoIterator for &'a Sparse<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Serialize> Serialize for Sparse<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sparse<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Vec::<T>::deserialize(d).map(Sparse::from)
    }
}

/// A string many plan items repeat (a title, a department, a division, a group or role name):
/// one shared allocation instead of one per item. Reads as a `str`; serialises as a string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(Arc<str>);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(s.into())
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(s.into())
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, o: &str) -> bool {
        &*self.0 == o
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, o: &&str) -> bool {
        &*self.0 == *o
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Text::from)
    }
}

/// Hands out one [`Text`] per distinct string. Bounded: past [`Interner::MAX`] distinct values
/// (a column that is unique per user, say) new strings are no longer remembered, so the
/// interner never grows with the desired state.
#[derive(Default)]
struct Interner(HashSet<Arc<str>>);

impl Interner {
    const MAX: usize = 1 << 16;

    fn get(&mut self, s: &str) -> Text {
        if let Some(a) = self.0.get(s) {
            return Text(a.clone());
        }
        let a: Arc<str> = s.into();
        if self.0.len() < Interner::MAX {
            self.0.insert(a.clone());
        }
        Text(a)
    }
}

/// Plan file format version.
pub const PLAN_FORMAT: u32 = 1;
/// Members per group add/remove call (API limit).
pub const MEMBER_BATCH: usize = 50;
/// Skills or languages per bulk call (API limit).
pub const ROUTING_BATCH: usize = 50;
/// Users per division move (`POST …/divisions/{id}/objects/USER`); no limit is published, so
/// this is the client's conservative [`DIVISION_OBJECT_CHUNK`].
pub const MOVE_BATCH: usize = DIVISION_OBJECT_CHUNK;

/// Attributes used to match a desired user to a Genesys user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MatchKey {
    /// Desired `externalId` against `employerInfo.employeeId` (the one external key the user
    /// listing returns; the external-ID API would cost one call per user).
    ExternalId,
    /// Desired `userName` against the Genesys username (= email).
    UserName,
    /// Desired `email` against the Genesys email.
    Email,
}

impl MatchKey {
    pub fn parse(s: &str) -> Option<MatchKey> {
        match s.to_ascii_lowercase().as_str() {
            "externalid" | "external_id" => Some(MatchKey::ExternalId),
            "username" | "user_name" => Some(MatchKey::UserName),
            "email" => Some(MatchKey::Email),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKey::ExternalId => "externalId",
            MatchKey::UserName => "userName",
            MatchKey::Email => "email",
        }
    }
}

/// What happens to Genesys users missing from the desired state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingAction {
    Never,
    Deactivate,
    Delete,
}

impl MissingAction {
    pub fn parse(s: &str) -> Option<MissingAction> {
        match s.to_ascii_lowercase().as_str() {
            "never" | "ignore" | "keep" => Some(MissingAction::Never),
            "deactivate" | "disable" => Some(MissingAction::Deactivate),
            "delete" => Some(MissingAction::Delete),
            _ => None,
        }
    }
}

/// Planning settings (from the config file and the command line).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub mapping: ColumnMapping,
    pub match_order: Vec<MatchKey>,
    pub missing: MissingAction,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mapping: ColumnMapping::default(),
            match_order: vec![MatchKey::ExternalId, MatchKey::UserName, MatchKey::Email],
            missing: MissingAction::Deactivate,
        }
    }
}

/// Safety rails, checked before any write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    /// Most users the plan may deactivate or delete.
    pub max_deletes: Option<u64>,
    /// Most users, as a percentage of the org's non-deleted users, it may deactivate or delete.
    pub max_delete_percent: Option<f64>,
}

/// The normalised desired state of one user (what the executor converges to).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Want {
    /// Email when it differs from the item's userName (`key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `None`: the record carries no name (no `displayName`/`givenName`/`familyName`), so an
    /// existing user's name is left alone; a create then uses the userName (`key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division_id: Option<Text>,
    /// `None`: the state is not managed (an existing user keeps it; a create is active, a
    /// deleted user is restored active).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<Held>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<Held>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<RoleGrant>>,
}

/// A role granted in a division.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleGrant {
    pub role: Text,
    pub role_id: Text,
    pub division_id: Text,
}

impl RoleGrant {
    fn is(&self, h: &RoleDivisionPair) -> bool {
        *self.role_id == *h.role_id && *self.division_id == *h.division_id
    }
}

/// Role grants to add and to remove so that, for every managed role (`managed`: role id →
/// name), the user holds exactly the grants `want` lists. Grants of roles outside `managed`
/// are never touched.
pub fn role_diff(
    want: &[RoleGrant],
    have: &[RoleDivisionPair],
    managed: &BTreeMap<String, String>,
) -> (Vec<RoleGrant>, Vec<RoleGrant>) {
    let mut add: Vec<RoleGrant> = Vec::new();
    for g in want {
        if !have.iter().any(|h| g.is(h)) && !add.contains(g) {
            add.push(g.clone());
        }
    }
    let remove = have
        .iter()
        .filter(|h| managed.contains_key(&h.role_id))
        .filter(|h| !want.iter().any(|w| w.is(h)))
        .map(|h| RoleGrant {
            role: managed
                .get(&h.role_id)
                .map_or_else(|| Text::from(""), |n| Text::from(n.as_str())),
            role_id: h.role_id.as_str().into(),
            division_id: h.division_id.as_str().into(),
        })
        .collect();
    (add, remove)
}

impl Want {
    /// The state the user must end in; `None` when the state is not managed.
    fn state(&self) -> Option<UserState> {
        self.active.map(|a| {
            if a {
                UserState::Active
            } else {
                UserState::Inactive
            }
        })
    }
}

/// Kind of change to one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserAction {
    Create,
    Update,
    Restore,
    Activate,
    Deactivate,
    Delete,
    /// Only group memberships or the division change (executed in the batch phases).
    Membership,
}

impl UserAction {
    pub fn as_str(self) -> &'static str {
        match self {
            UserAction::Create => "create",
            UserAction::Update => "update",
            UserAction::Restore => "restore",
            UserAction::Activate => "activate",
            UserAction::Deactivate => "deactivate",
            UserAction::Delete => "delete",
            UserAction::Membership => "membership",
        }
    }
    fn symbol(self) -> &'static str {
        match self {
            UserAction::Create => "+",
            UserAction::Update | UserAction::Membership => "~",
            UserAction::Restore | UserAction::Activate => "↺",
            UserAction::Deactivate => "-",
            UserAction::Delete => "x",
        }
    }
    /// Event kind for the outbox.
    pub fn event(self) -> &'static str {
        match self {
            UserAction::Create => "user.created",
            UserAction::Update | UserAction::Membership => "user.updated",
            UserAction::Restore => "user.restored",
            UserAction::Activate => "user.activated",
            UserAction::Deactivate => "user.deactivated",
            UserAction::Delete => "user.deleted",
        }
    }
}

/// The user a change applies to, as it was when planned (the precondition of the apply).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub version: i64,
    pub state: UserState,
}

/// One attribute change, for display and audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Attribute patch (`PATCH /api/v2/users/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttrPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<String>,
}

impl AttrPatch {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.title.is_none()
            && self.department.is_none()
            && self.employee_id.is_none()
    }
}

/// The writes one user item needs, in execution order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Steps {
    #[serde(default, skip_serializing_if = "is_false")]
    pub create: bool,
    /// `PATCH {state, version}` (restore, activate, deactivate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<UserState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attrs: Option<Box<AttrPatch>>,
    /// Skills to add or re-rate (`PATCH …/routingskills/bulk`), or the full list when
    /// `skills_replace` (`PUT …/routingskills/bulk`, which also removes the others).
    #[serde(default, skip_serializing_if = "Sparse::is_empty")]
    pub skills_put: Sparse<Held>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub skills_replace: bool,
    #[serde(default, skip_serializing_if = "Sparse::is_empty")]
    pub languages_put: Sparse<Held>,
    #[serde(default, skip_serializing_if = "Sparse::is_empty")]
    pub languages_remove: Sparse<Held>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub delete: bool,
    /// Roles to grant (`POST …/subjects/{id}/bulkadd`, one call).
    #[serde(default, skip_serializing_if = "Sparse::is_empty")]
    pub grants_add: Sparse<RoleGrant>,
    /// Grants of managed roles to take away (`POST …/subjects/{id}/bulkremove`, one call).
    #[serde(default, skip_serializing_if = "Sparse::is_empty")]
    pub grants_remove: Sparse<RoleGrant>,
    /// After a create: `PATCH employerInfo.employeeId` with the desired externalId (the create
    /// body has no such field).
    #[serde(default, skip_serializing_if = "is_false")]
    pub set_external_id: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn batches(n: usize, size: usize) -> u64 {
    n.div_ceil(size) as u64
}

impl Steps {
    pub fn is_empty(&self) -> bool {
        !self.create
            && self.state.is_none()
            && self.attrs.is_none()
            && self.skills_put.is_empty()
            && !self.skills_replace
            && self.languages_put.is_empty()
            && self.languages_remove.is_empty()
            && !self.delete
            && !self.set_external_id
            && self.grants_add.is_empty()
            && self.grants_remove.is_empty()
    }

    /// API writes these steps take.
    pub fn writes(&self) -> u64 {
        let mut n =
            u64::from(self.create) + u64::from(self.delete) + u64::from(self.set_external_id);
        n += u64::from(self.state.is_some()) + u64::from(self.attrs.is_some());
        n += if self.skills_replace {
            batches(self.skills_put.len().max(1), ROUTING_BATCH)
        } else {
            batches(self.skills_put.len(), ROUTING_BATCH)
        };
        n += batches(self.languages_put.len(), ROUTING_BATCH);
        n + self.languages_remove.len() as u64
            + u64::from(!self.grants_add.is_empty())
            + u64::from(!self.grants_remove.is_empty())
    }
}

/// One user's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserItem {
    pub action: UserAction,
    /// userName (desired) or email (missing users).
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Box<Target>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub want: Option<Box<Want>>,
    #[serde(default, skip_serializing_if = "Sparse::is_empty")]
    pub changes: Sparse<Change>,
    pub steps: Steps,
    /// Group names to join (resolved in the membership phase).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups_add: Vec<Text>,
    /// Group ids to leave.
    #[serde(default, skip_serializing_if = "Sparse::is_empty")]
    pub groups_remove: Sparse<String>,
    /// Division move of an existing user (executed in the division-move phase, batched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_to: Option<Box<DivisionMove>>,
}

/// A user's division change: from the division it was in when planned (the precondition of a
/// saved plan) to the desired one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DivisionMove {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: Text,
}

/// One user of a division move batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveUser {
    pub id: String,
    /// userName (for the report).
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// Users moved into one division, executed in batches of [`MOVE_BATCH`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DivisionMoveItem {
    pub division_id: String,
    pub name: String,
    pub users: Vec<MoveUser>,
}

impl DivisionMoveItem {
    pub fn writes(&self) -> u64 {
        batches(self.users.len(), MOVE_BATCH)
    }
}

/// A group the plan creates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupItem {
    pub name: String,
}

/// Which group a membership change is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum GroupRef {
    /// An existing group and its version when planned.
    Existing { id: String, version: i64 },
    /// The `index`-th group of `groups_to_create`.
    New { index: usize },
}

/// A member of a membership change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum MemberRef {
    Existing {
        id: String,
    },
    /// The user created by the `item`-th user item.
    Created {
        item: usize,
    },
}

/// Membership changes of one group, executed in batches of 50.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembershipItem {
    pub group: GroupRef,
    pub name: String,
    pub add: Vec<MemberRef>,
    pub remove: Vec<String>,
}

impl MembershipItem {
    pub fn writes(&self) -> u64 {
        batches(self.add.len(), MEMBER_BATCH) + batches(self.remove.len(), MEMBER_BATCH)
    }
}

/// A desired record the policy rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    pub line: u64,
    pub key: String,
    /// `CODE path: message` per enforced violation.
    pub reasons: Vec<String>,
}

/// A desired record that could not be matched safely (left out of the plan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchConflict {
    pub line: u64,
    pub key: String,
    /// `ambiguous` or `duplicate`.
    pub kind: String,
    pub detail: String,
}

/// Counts of the plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanStats {
    pub desired: u64,
    pub actual_users: u64,
    pub unchanged: u64,
    /// Users deactivated or deleted (what the safety rails count).
    pub removals: u64,
    /// Pages and catalogue calls of the read.
    pub read_calls: u64,
    /// Fewest writes that realise the plan.
    pub min_writes: u64,
}

/// A plan: what `apply` will do, and everything it needs to check preconditions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub format: u32,
    pub created_at: String,
    pub source: String,
    pub missing: MissingAction,
    pub match_order: Vec<MatchKey>,
    pub stats: PlanStats,
    pub groups_to_create: Vec<GroupItem>,
    pub users: Vec<UserItem>,
    pub memberships: Vec<MembershipItem>,
    /// Division moves of existing users, one item per target division.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moves: Vec<DivisionMoveItem>,
    /// Roles the plan manages (role id → name): the roles the desired state names. Grants of
    /// other roles are never added or removed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub managed_roles: BTreeMap<String, String>,
    pub rejected: Vec<Rejected>,
    pub conflicts: Vec<MatchConflict>,
    pub warnings: Vec<String>,
    /// Catalogue entries used by the plan (for re-diffs during apply).
    pub catalog: Catalog,
}

impl Plan {
    /// Checks the safety rails; an error means nothing may be written.
    pub fn check_guard(&self, g: &Guard) -> Result<()> {
        let removals = self.stats.removals;
        if let Some(max) = g.max_deletes
            && removals > max
        {
            return Err(Error::Guard(format!(
                "the plan deactivates or deletes {removals} users, more than --max-deletes {max}"
            )));
        }
        if let Some(pct) = g.max_delete_percent {
            let base = self.stats.actual_users.max(1) as f64;
            let share = removals as f64 * 100.0 / base;
            if removals > 0 && share > pct {
                return Err(Error::Guard(format!(
                    "the plan deactivates or deletes {removals} of {} users ({share:.1}%), more than --max-delete-percent {pct}",
                    self.stats.actual_users
                )));
            }
        }
        Ok(())
    }

    /// Total writes the plan needs (the "minimum" of the report).
    pub fn min_writes(&self) -> u64 {
        self.groups_to_create.len() as u64
            + self.users.iter().map(|u| u.steps.writes()).sum::<u64>()
            + self
                .memberships
                .iter()
                .map(MembershipItem::writes)
                .sum::<u64>()
            + self.moves.iter().map(DivisionMoveItem::writes).sum::<u64>()
    }

    /// Number of user items per action.
    pub fn counts(&self) -> BTreeMap<UserAction, u64> {
        let mut m = BTreeMap::new();
        for u in &self.users {
            *m.entry(u.action).or_insert(0) += 1;
        }
        m
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
            && self.groups_to_create.is_empty()
            && self.memberships.is_empty()
            && self.moves.is_empty()
    }

    /// Terraform-like summary; `verbose` adds per-user details, `color` ANSI colours.
    pub fn render(&self, verbose: bool, color: bool) -> String {
        use std::fmt::Write;
        let paint = |code: &str, s: &str| {
            if color {
                format!("\x1b[{code}m{s}\x1b[0m")
            } else {
                s.to_string()
            }
        };
        let code_of = |a: UserAction| match a {
            UserAction::Create | UserAction::Restore | UserAction::Activate => "32",
            UserAction::Update | UserAction::Membership => "33",
            UserAction::Deactivate | UserAction::Delete => "31",
        };
        let mut out = String::new();
        let s = &self.stats;
        let _ = writeln!(
            out,
            "Read {} Genesys users in {} calls; {} desired records from {}.",
            s.actual_users, s.read_calls, s.desired, self.source
        );
        if verbose {
            for g in &self.groups_to_create {
                let _ = writeln!(out, "  {} group {:?}", paint("32", "+"), g.name);
            }
            for u in &self.users {
                let head = format!("{} user {}", u.action.symbol(), u.key);
                let mut line = format!("  {}", paint(code_of(u.action), &head));
                if let Some(t) = &u.target {
                    let _ = write!(
                        line,
                        " (id {}, version {}, {})",
                        t.id,
                        t.version,
                        t.state.as_str()
                    );
                }
                if let Some(l) = u.line {
                    let _ = write!(line, " [line {l}]");
                }
                let _ = writeln!(out, "{line}");
                for c in &u.changes {
                    let _ = writeln!(
                        out,
                        "      {}: {} → {}",
                        c.field,
                        c.from
                            .as_deref()
                            .map(|x| format!("{x:?}"))
                            .unwrap_or_else(|| "(none)".into()),
                        c.to.as_deref()
                            .map(|x| format!("{x:?}"))
                            .unwrap_or_else(|| "(none)".into()),
                    );
                }
                for g in &u.groups_add {
                    let _ = writeln!(out, "      group +{g:?}");
                }
                for g in &u.groups_remove {
                    let _ = writeln!(out, "      group -{g}");
                }
            }
            for m in &self.memberships {
                let _ = writeln!(
                    out,
                    "  {} group {:?}: +{} -{} members ({} batches)",
                    paint("33", "~"),
                    m.name,
                    m.add.len(),
                    m.remove.len(),
                    m.writes()
                );
            }
            for m in &self.moves {
                let _ = writeln!(
                    out,
                    "  {} division {:?}: {} users move in ({} batches)",
                    paint("33", "~"),
                    m.name,
                    m.users.len(),
                    m.writes()
                );
            }
        }
        let counts = self.counts();
        let n = |a| counts.get(&a).copied().unwrap_or(0);
        let rows = [
            (UserAction::Create, "to create"),
            (UserAction::Update, "to update"),
            (UserAction::Restore, "to restore"),
            (UserAction::Activate, "to activate"),
            (UserAction::Deactivate, "to deactivate"),
            (UserAction::Delete, "to delete"),
            (UserAction::Membership, "with membership changes only"),
        ];
        let _ = writeln!(out);
        for (a, label) in rows {
            if n(a) > 0 {
                let _ = writeln!(
                    out,
                    "  {} {} users {label}",
                    paint(code_of(a), a.symbol()),
                    n(a)
                );
            }
        }
        if !self.groups_to_create.is_empty() {
            let _ = writeln!(
                out,
                "  {} {} groups to create",
                paint("32", "+"),
                self.groups_to_create.len()
            );
        }
        let batches: u64 = self.memberships.iter().map(MembershipItem::writes).sum();
        if batches > 0 {
            let _ = writeln!(
                out,
                "  {} {} groups with membership changes ({batches} batches of up to {MEMBER_BATCH})",
                paint("33", "~"),
                self.memberships.len()
            );
        }
        let moved: u64 = self.moves.iter().map(|m| m.users.len() as u64).sum();
        if moved > 0 {
            let moves: u64 = self.moves.iter().map(DivisionMoveItem::writes).sum();
            let _ = writeln!(
                out,
                "  {} {moved} users to move to another division ({moves} batches of up to {MOVE_BATCH})",
                paint("33", "~"),
            );
        }
        let _ = writeln!(out, "    {} users unchanged", s.unchanged);
        for r in &self.rejected {
            let _ = writeln!(
                out,
                "  {} line {} {}: rejected by policy: {}",
                paint("31", "!"),
                r.line,
                r.key,
                r.reasons.join("; ")
            );
        }
        for c in &self.conflicts {
            let _ = writeln!(
                out,
                "  {} line {} {}: {} match: {}",
                paint("31", "!"),
                c.line,
                c.key,
                c.kind,
                c.detail
            );
        }
        for w in &self.warnings {
            let _ = writeln!(out, "  {} {w}", paint("33", "warning:"));
        }
        let _ = writeln!(
            out,
            "\nPlan: {} to create, {} to change, {} to remove; {} API writes after {} reads.",
            n(UserAction::Create) + self.groups_to_create.len() as u64,
            n(UserAction::Update)
                + n(UserAction::Restore)
                + n(UserAction::Activate)
                + n(UserAction::Membership),
            s.removals,
            s.min_writes,
            s.read_calls
        );
        if self.is_empty() {
            let _ = writeln!(out, "No changes. Genesys Cloud matches the desired state.");
        }
        out
    }
}

fn differs(want: Option<&str>, have: Option<&str>) -> bool {
    match want {
        None => false,
        Some(w) => have != Some(w),
    }
}

/// The smallest change that makes `actual` (or nothing) match `want`; `None` when they match.
/// Role grants are compared only when `actual.grants` was read, and only for the `managed`
/// roles (see [`role_diff`]). Group memberships and division moves are batched by the
/// [`Planner`], not part of these steps.
pub fn diff_user(
    want: &Want,
    actual: Option<&ActualUser>,
    managed: &BTreeMap<String, String>,
) -> Option<(UserAction, Vec<Change>, Steps)> {
    let mut steps = Steps::default();
    let mut changes = Vec::new();
    let chg = |f: &str, from: Option<&str>, to: Option<&str>| Change {
        field: f.to_string(),
        from: from.map(str::to_string),
        to: to.map(str::to_string),
    };
    let Some(a) = actual else {
        steps.create = true;
        steps.set_external_id = want.external_id.is_some();
        if let Some(r) = &want.roles {
            steps.grants_add = r.clone().into();
        }
        if let Some(s) = &want.skills {
            steps.skills_put = s.clone().into();
        }
        if let Some(l) = &want.languages {
            steps.languages_put = l.clone().into();
        }
        return Some((UserAction::Create, changes, steps));
    };
    let mut action = UserAction::Update;
    if a.state == UserState::Deleted {
        // The record asks for the user to exist: restore it, active unless the record says
        // otherwise.
        let want_state = want.state().unwrap_or(UserState::Active);
        steps.state = Some(want_state);
        action = UserAction::Restore;
        changes.push(chg("state", Some("deleted"), Some(want_state.as_str())));
    } else if let Some(want_state) = want.state()
        && a.state != want_state
    {
        steps.state = Some(want_state);
        action = if want_state == UserState::Active {
            UserAction::Activate
        } else {
            UserAction::Deactivate
        };
        changes.push(chg(
            "state",
            Some(a.state.as_str()),
            Some(want_state.as_str()),
        ));
    }
    let mut p = AttrPatch::default();
    if let Some(name) = &want.name
        && name != &a.name
        && !name.is_empty()
    {
        changes.push(chg("name", Some(&a.name), Some(name)));
        p.name = Some(name.clone());
    }
    if differs(want.title.as_deref(), a.title.as_deref()) {
        changes.push(chg("title", a.title.as_deref(), want.title.as_deref()));
        p.title = want.title.as_deref().map(str::to_string);
    }
    if differs(want.department.as_deref(), a.department.as_deref()) {
        changes.push(chg(
            "department",
            a.department.as_deref(),
            want.department.as_deref(),
        ));
        p.department = want.department.as_deref().map(str::to_string);
    }
    if differs(want.external_id.as_deref(), a.employee_id.as_deref()) {
        changes.push(chg(
            "externalId",
            a.employee_id.as_deref(),
            want.external_id.as_deref(),
        ));
        p.employee_id = want.external_id.clone();
    }
    if !p.is_empty() {
        steps.attrs = Some(Box::new(p));
    }
    if let Some(ws) = &want.skills {
        let have = a.skills.as_deref().unwrap_or(&[]);
        let put: Vec<Held> = ws
            .iter()
            .filter(|w| {
                !have
                    .iter()
                    .any(|h| h.id == w.id && (h.proficiency - w.proficiency).abs() < 1e-9)
            })
            .cloned()
            .collect();
        let removed: Vec<&Held> = have
            .iter()
            .filter(|h| !ws.iter().any(|w| w.id == h.id))
            .collect();
        for s in &put {
            changes.push(chg(
                "skill",
                None,
                Some(&format!("{}:{}", s.name, s.proficiency)),
            ));
        }
        for s in &removed {
            changes.push(chg(
                "skill",
                Some(&format!("{}:{}", s.name, s.proficiency)),
                None,
            ));
        }
        if !removed.is_empty() {
            steps.skills_replace = true;
            steps.skills_put = ws.clone().into();
        } else {
            steps.skills_put = put.into();
        }
    }
    if let Some(wl) = &want.languages {
        let have = a.languages.as_deref().unwrap_or(&[]);
        steps.languages_put = wl
            .iter()
            .filter(|w| {
                !have
                    .iter()
                    .any(|h| h.id == w.id && (h.proficiency - w.proficiency).abs() < 1e-9)
            })
            .cloned()
            .collect();
        steps.languages_remove = have
            .iter()
            .filter(|h| !wl.iter().any(|w| w.id == h.id))
            .cloned()
            .collect();
        for s in &steps.languages_put {
            changes.push(chg(
                "language",
                None,
                Some(&format!("{}:{}", s.name, s.proficiency)),
            ));
        }
        for s in &steps.languages_remove {
            changes.push(chg(
                "language",
                Some(&format!("{}:{}", s.name, s.proficiency)),
                None,
            ));
        }
    }
    if let (Some(wr), Some(have)) = (&want.roles, &a.grants) {
        let (add, remove) = role_diff(wr, have, managed);
        changes.extend(role_changes(&add, &remove));
        steps.grants_add = add.into();
        steps.grants_remove = remove.into();
    }
    if steps.is_empty() {
        return None;
    }
    Some((action, changes, steps))
}

/// `role` changes for display: `Role@division-id`.
fn role_changes(add: &[RoleGrant], remove: &[RoleGrant]) -> Vec<Change> {
    let show = |g: &RoleGrant| Some(format!("{}@{}", g.role, g.division_id));
    add.iter()
        .map(|g| Change {
            field: "role".into(),
            from: None,
            to: show(g),
        })
        .chain(remove.iter().map(|g| Change {
            field: "role".into(),
            from: show(g),
            to: None,
        }))
        .collect()
}

/// Index of the org for matching.
struct Index {
    by_ext: HashMap<String, Vec<u32>>,
    by_email: HashMap<String, Vec<u32>>,
}

/// The record that claimed a user or a key: its line and its item, packed into 8 bytes because
/// `seen` holds two per desired record (a million records: 2 million entries).
#[derive(Clone, Copy)]
struct Claim {
    /// Saturates at `u32::MAX` (only shown in messages; no desired file has 4 billion lines).
    line: u32,
    /// Index into `items`; [`Claim::NO_ITEM`] when the record produced no item.
    item: u32,
}

impl Claim {
    const NO_ITEM: u32 = u32::MAX;

    fn new(line: u64) -> Claim {
        Claim {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            item: Claim::NO_ITEM,
        }
    }

    fn line(self) -> u64 {
        u64::from(self.line)
    }

    fn item(self) -> Option<usize> {
        (self.item != Claim::NO_ITEM).then_some(self.item as usize)
    }
}

/// `seen` is keyed by 64-bit SipHash values already: hashing them again would only cost time.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `u64` keys; fold anything else in, to stay correct.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type SeenMap = HashMap<u64, Claim, std::hash::BuildHasherDefault<KeyHasher>>;

/// Streams desired users into a plan: `push` each record, then `finish`.
pub struct Planner<'a> {
    org: &'a Org,
    settings: &'a Settings,
    policy: Option<&'a Policy>,
    index: Index,
    claimed: Vec<Option<Claim>>,
    /// Hash of `u:{userName}` / `x:{externalId}` → claim (a hash keeps a million keys small; a
    /// collision can only report a false duplicate, never cause a write).
    seen: SeenMap,
    items: Vec<UserItem>,
    dead: Vec<usize>,
    rejected: Vec<Rejected>,
    conflicts: Vec<MatchConflict>,
    warnings: BTreeMap<String, u64>,
    desired: u64,
    unchanged: u64,
    group_by_name: HashMap<&'a str, &'a ActualGroup>,
    used_catalog: Catalog,
    source: String,
    /// Roles the accepted records name (role id → name): the roles the plan manages.
    managed: BTreeMap<String, String>,
    /// Shared copies of the strings items repeat (titles, departments, divisions, groups, roles).
    texts: Interner,
    /// Items of matched users whose record carries roles: their role diff waits for the
    /// grants read in `finish_with`.
    role_items: Vec<usize>,
}

impl<'a> Planner<'a> {
    pub fn new(
        org: &'a Org,
        settings: &'a Settings,
        policy: Option<&'a Policy>,
        source: &str,
    ) -> Self {
        let mut by_ext: HashMap<String, Vec<u32>> = HashMap::new();
        let mut by_email: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, u) in org.users.iter().enumerate() {
            if let Some(e) = &u.employee_id {
                by_ext.entry(e.clone()).or_default().push(i as u32);
            }
            if !u.email.is_empty() {
                by_email
                    .entry(u.email.to_lowercase())
                    .or_default()
                    .push(i as u32);
            }
        }
        let group_by_name = org.groups.iter().map(|g| (g.name.as_str(), g)).collect();
        Planner {
            org,
            settings,
            policy,
            index: Index { by_ext, by_email },
            claimed: vec![None; org.users.len()],
            seen: SeenMap::default(),
            items: Vec::new(),
            dead: Vec::new(),
            rejected: Vec::new(),
            conflicts: Vec::new(),
            warnings: BTreeMap::new(),
            desired: 0,
            unchanged: 0,
            group_by_name,
            used_catalog: Catalog {
                home_division: org.catalog.home_division.clone(),
                ..Default::default()
            },
            source: source.to_string(),
            managed: BTreeMap::new(),
            role_items: Vec::new(),
            texts: Interner::default(),
        }
    }

    fn warn(&mut self, w: String) {
        *self.warnings.entry(w).or_insert(0) += 1;
    }

    /// Candidates for one key, preferring non-deleted users when several share it.
    fn lookup(&self, key: MatchKey, d: &DesiredUser) -> Vec<u32> {
        let hits = match key {
            MatchKey::ExternalId => d
                .external_id
                .as_ref()
                .and_then(|x| self.index.by_ext.get(x)),
            MatchKey::UserName => self.index.by_email.get(&d.user_name.to_lowercase()),
            MatchKey::Email => d
                .email
                .as_ref()
                .and_then(|e| self.index.by_email.get(&e.to_lowercase())),
        };
        let hits = hits.cloned().unwrap_or_default();
        if hits.len() > 1 {
            let live: Vec<u32> = hits
                .iter()
                .copied()
                .filter(|i| self.org.users[*i as usize].state != UserState::Deleted)
                .collect();
            if live.len() == 1 {
                return live;
            }
        }
        hits
    }

    fn conflict(&mut self, d: &DesiredUser, kind: &str, detail: String) {
        self.conflicts.push(MatchConflict {
            line: d.line,
            key: d.user_name.clone(),
            kind: kind.to_string(),
            detail,
        });
    }

    /// Adds one desired record to the plan.
    pub fn push(&mut self, d: DesiredUser) {
        self.desired += 1;
        // Duplicates inside the desired state: both records are left out.
        let keys = seen_keys(&d);
        for (n, k) in keys.iter().enumerate() {
            if let Some(prev) = self.seen.get(k).copied() {
                if let Some(i) = prev.item() {
                    self.dead.push(i);
                }
                let what = if n == 0 { "userName" } else { "externalId" };
                self.conflict(
                    &d,
                    "duplicate",
                    format!("same {what} as line {}; both records left out", prev.line()),
                );
                // Protect every user either record could match from removal.
                for key in [MatchKey::ExternalId, MatchKey::UserName, MatchKey::Email] {
                    for i in self.lookup(key, &d) {
                        self.claimed[i as usize].get_or_insert(Claim::new(d.line));
                    }
                }
                return;
            }
        }
        // Match in the configured order; a key that finds several users, or two keys that
        // find different users, is ambiguous.
        let mut found: Option<u32> = None;
        let mut ambiguous: Option<String> = None;
        let mut all_hits: Vec<u32> = Vec::new();
        for key in self.settings.match_order.clone() {
            let hits = self.lookup(key, &d);
            all_hits.extend(&hits);
            match (hits.len(), found) {
                (0, _) => {}
                (1, None) => found = Some(hits[0]),
                (1, Some(f)) if f == hits[0] => {}
                (1, Some(f)) => {
                    ambiguous = Some(format!(
                        "{} matches user {} but an earlier key matched user {}",
                        key.as_str(),
                        self.org.users[hits[0] as usize].id,
                        self.org.users[f as usize].id
                    ));
                }
                (n, _) => {
                    ambiguous = Some(format!("{} matches {n} users", key.as_str()));
                }
            }
            if ambiguous.is_some() {
                break;
            }
        }
        if let Some(detail) = ambiguous {
            for i in all_hits {
                self.claimed[i as usize].get_or_insert(Claim::new(d.line));
            }
            self.conflict(&d, "ambiguous", detail);
            return;
        }
        if let Some(f) = found
            && let Some(prev) = self.claimed[f as usize]
        {
            if let Some(i) = prev.item() {
                self.dead.push(i);
            }
            self.conflict(
                &d,
                "duplicate",
                format!(
                    "matches user {} like line {}; both records left out",
                    self.org.users[f as usize].id,
                    prev.line()
                ),
            );
            return;
        }
        let mut claim = Claim::new(d.line);
        if let Some(f) = found {
            self.claimed[f as usize] = Some(claim);
        }
        for k in &keys {
            self.seen.insert(*k, claim);
        }
        // Policy: rejected records are reported and left out (their user is still protected
        // from removal by the claim above).
        if let Some(p) = self.policy {
            let decision = p.evaluate(&d.to_scim());
            if decision.is_rejected() {
                self.rejected.push(Rejected {
                    line: d.line,
                    key: d.user_name.clone(),
                    reasons: decision
                        .violations
                        .iter()
                        .map(|v| format!("{} {}: {}", v.code, v.path, v.message))
                        .collect(),
                });
                return;
            }
        }
        let actual = found.map(|f| &self.org.users[f as usize]);
        let want = self.want_of(&d, actual);
        let (groups_add, groups_remove) = self.group_changes(&d, actual);
        let move_to = match (actual, &want.division_id) {
            (Some(a), Some(to)) if a.division_id.as_deref() != Some(to.as_str()) => {
                Some(Box::new(DivisionMove {
                    from: a.division_id.clone(),
                    to: to.clone(),
                }))
            }
            _ => None,
        };
        // A matched user's role grants are compared in `finish_with`, once the grants of the
        // named roles are read; until then its item may have no steps.
        let roles_pending = actual.is_some() && want.roles.is_some();
        let diff = diff_user(&want, actual, &self.managed);
        let target = actual.map(|a| {
            Box::new(Target {
                id: a.id.clone(),
                version: a.version,
                state: a.state,
            })
        });
        let batched = !groups_add.is_empty() || !groups_remove.is_empty() || move_to.is_some();
        let mut item = match diff {
            Some((action, changes, steps)) => UserItem {
                action,
                key: d.user_name.clone(),
                line: Some(d.line),
                target,
                want: Some(Box::new(want)),
                changes: changes.into(),
                steps,
                groups_add,
                groups_remove: groups_remove.into(),
                move_to,
            },
            None if roles_pending || batched => UserItem {
                action: UserAction::Membership,
                key: d.user_name.clone(),
                line: Some(d.line),
                target,
                want: roles_pending.then(|| Box::new(want)),
                changes: Sparse::new(),
                steps: Steps::default(),
                groups_add,
                groups_remove: groups_remove.into(),
                move_to,
            },
            None => {
                self.unchanged += 1;
                return;
            }
        };
        if let Some(m) = &item.move_to {
            item.changes.push(Change {
                field: "division".into(),
                from: m.from.clone(),
                to: Some(m.to.to_string()),
            });
        }
        if roles_pending {
            self.role_items.push(self.items.len());
        }
        let idx = self.items.len();
        self.items.push(item);
        claim.item = u32::try_from(idx).unwrap_or(Claim::NO_ITEM);
        if let Some(f) = found {
            self.claimed[f as usize] = Some(claim);
        }
        for k in keys {
            self.seen.insert(k, claim);
        }
    }

    fn want_of(&mut self, d: &DesiredUser, actual: Option<&ActualUser>) -> Want {
        let cat = &self.org.catalog;
        let division_id = match &d.division {
            None => None,
            Some(name) => match cat.divisions.get(&name.to_lowercase()) {
                Some(id) => Some(self.texts.get(id)),
                None => {
                    self.warn(format!("division {name:?} does not exist; left unchanged"));
                    None
                }
            },
        };
        if let (Some(a), Some(e)) = (actual, &d.email)
            && !a.email.eq_ignore_ascii_case(e)
        {
            self.warn(format!(
                "user {}: Genesys cannot change a user's email ({} → {e}); left unchanged",
                a.id, a.email
            ));
        }
        let skills = d.skills.as_ref().map(|s| {
            let (ok, unknown) = cat.resolve_skills(s);
            for u in unknown {
                self.warn(format!("skill {u:?} does not exist in the org; left out"));
            }
            for h in &ok {
                self.used_catalog
                    .skills
                    .insert(h.name.clone(), h.id.clone());
            }
            ok
        });
        let languages = d.languages.as_ref().map(|s| {
            let (ok, unknown) = cat.resolve_languages(s);
            for u in unknown {
                self.warn(format!(
                    "language {u:?} does not exist in the org; left out"
                ));
            }
            for h in &ok {
                self.used_catalog
                    .languages
                    .insert(h.name.clone(), h.id.clone());
            }
            ok
        });
        let roles = d.roles.as_ref().and_then(|rs| {
            let mut out: Vec<RoleGrant> = Vec::with_capacity(rs.len());
            let mut complete = true;
            for r in rs {
                let (role, div) = match r.rsplit_once('@') {
                    Some((role, div)) => (role.trim(), Some(div.trim())),
                    None => (r.trim(), None),
                };
                let Some(role_id) = cat.roles.get(role) else {
                    self.warn(format!(
                        "role {role:?} does not exist in the org; that user's roles left unchanged"
                    ));
                    complete = false;
                    continue;
                };
                let division_id = match div {
                    Some(dn) => cat.divisions.get(&dn.to_lowercase()),
                    None => cat.home_division.as_ref(),
                };
                let Some(division_id) = division_id else {
                    self.warn(format!(
                        "division of role grant {r:?} does not exist; that user's roles left unchanged"
                    ));
                    complete = false;
                    continue;
                };
                let g = RoleGrant {
                    role: self.texts.get(role),
                    role_id: self.texts.get(role_id),
                    division_id: self.texts.get(division_id),
                };
                if !out.contains(&g) {
                    out.push(g);
                }
            }
            for g in &out {
                if !self.managed.contains_key(g.role_id.as_str()) {
                    self.managed.insert(g.role_id.to_string(), g.role.to_string());
                }
            }
            // A record with a grant that cannot be resolved does not manage its roles at all:
            // otherwise a typo in a division would remove the grant the user has.
            complete.then_some(out)
        });
        Want {
            roles,
            email: d.email.clone().filter(|e| e != &d.user_name),
            name: d.managed_name(),
            external_id: d.external_id.clone(),
            title: d.title.as_deref().map(|t| self.texts.get(t)),
            department: d.department.as_deref().map(|t| self.texts.get(t)),
            division_id,
            // Without an `active` value the record still says something when the run manages
            // absence (`missing` = deactivate/delete): the desired state is then the roster of
            // users who should work, so a user it lists is active (a user deactivated for being
            // missing comes back when listed again). With `missing = never`, absence says
            // nothing and neither does a missing `active`: the state is left alone.
            active: d
                .active
                .or((self.settings.missing != MissingAction::Never).then_some(true)),
            skills,
            languages,
        }
    }

    fn group_changes(
        &mut self,
        d: &DesiredUser,
        actual: Option<&ActualUser>,
    ) -> (Vec<Text>, Vec<String>) {
        let Some(want) = &d.groups else {
            return (Vec::new(), Vec::new());
        };
        let have: &[String] = actual.and_then(|a| a.groups.as_deref()).unwrap_or(&[]);
        let mut add = Vec::new();
        for name in want {
            let member = self
                .group_by_name
                .get(name.as_str())
                .is_some_and(|g| have.contains(&g.id));
            if !member && !add.iter().any(|a: &Text| a == name.as_str()) {
                add.push(self.texts.get(name));
            }
        }
        let remove = have
            .iter()
            .filter(|gid| {
                !want.iter().any(|n| {
                    self.group_by_name
                        .get(n.as_str())
                        .is_some_and(|g| &g.id == *gid)
                })
            })
            .cloned()
            .collect();
        (add, remove)
    }

    /// Roles the accepted records name so far (role id → name).
    pub fn managed_roles(&self) -> &BTreeMap<String, String> {
        &self.managed
    }

    /// Ends the stream, reading first what the plan needs beyond the org: the grants of the
    /// named roles ([`RoleGrants::read`]), only when some matched user's record carries roles.
    pub async fn finish_with_reads(self, client: &GenesysClient) -> Result<Plan> {
        if self.role_items.is_empty() || self.managed.is_empty() {
            return Ok(self.finish_with(None));
        }
        let grants = RoleGrants::read(client, &self.managed).await?;
        Ok(self.finish_with(Some(&grants)))
    }

    /// Ends the stream without reading role grants: matched users' roles are left unchanged
    /// (with a warning) when records name roles. Use [`Planner::finish_with_reads`].
    pub fn finish(self) -> Plan {
        self.finish_with(None)
    }

    /// Ends the stream: role grant changes (against `grants`), removals of missing users, the
    /// membership batches and the division moves.
    pub fn finish_with(mut self, grants: Option<&RoleGrants>) -> Plan {
        // The match indexes are done with: free them before the batches are built (with a
        // million records `seen` alone is some 64 MiB).
        drop(std::mem::take(&mut self.seen));
        self.index.by_ext = HashMap::new();
        self.index.by_email = HashMap::new();
        self.dead.sort_unstable();
        self.dead.dedup();
        let div_names: HashMap<&str, &str> = self
            .org
            .catalog
            .divisions
            .iter()
            .map(|(n, id)| (id.as_str(), n.as_str()))
            .collect();
        let show = |g: &RoleGrant| {
            let div = div_names
                .get(g.division_id.as_str())
                .copied()
                .unwrap_or(g.division_id.as_str());
            Some(format!("{}@{div}", g.role))
        };
        if grants.is_none() && !self.role_items.is_empty() && !self.managed.is_empty() {
            self.warn(
                "role grants were not read; roles of existing users left unchanged".to_string(),
            );
        }
        let mut nothing_to_do = Vec::new();
        for &i in &self.role_items {
            if self.dead.binary_search(&i).is_ok() {
                continue;
            }
            let item = &mut self.items[i];
            if let (Some(grants), Some(want), Some(t)) = (grants, &item.want, &item.target)
                && let Some(wr) = &want.roles
            {
                let (add, remove) = role_diff(wr, grants.of(&t.id), &self.managed);
                for g in &add {
                    item.changes.push(Change {
                        field: "role".into(),
                        from: None,
                        to: show(g),
                    });
                }
                for g in &remove {
                    item.changes.push(Change {
                        field: "role".into(),
                        from: show(g),
                        to: None,
                    });
                }
                item.steps.grants_add = add.into();
                item.steps.grants_remove = remove.into();
            }
            if item.steps.is_empty() {
                if item.groups_add.is_empty()
                    && item.groups_remove.is_empty()
                    && item.move_to.is_none()
                {
                    // Nothing to do after all.
                    nothing_to_do.push(i);
                    self.unchanged += 1;
                }
            } else if item.action == UserAction::Membership {
                item.action = UserAction::Update;
            }
        }
        self.dead.extend(nothing_to_do);
        // Users missing from the desired state.
        for (i, u) in self.org.users.iter().enumerate() {
            if self.claimed[i].is_some() || u.state == UserState::Deleted {
                continue;
            }
            let (action, steps) = match self.settings.missing {
                MissingAction::Never => continue,
                MissingAction::Deactivate if u.state == UserState::Inactive => continue,
                MissingAction::Deactivate => (
                    UserAction::Deactivate,
                    Steps {
                        state: Some(UserState::Inactive),
                        ..Default::default()
                    },
                ),
                MissingAction::Delete => (
                    UserAction::Delete,
                    Steps {
                        delete: true,
                        ..Default::default()
                    },
                ),
            };
            self.items.push(UserItem {
                action,
                key: u.email.clone(),
                line: None,
                target: Some(Box::new(Target {
                    id: u.id.clone(),
                    version: u.version,
                    state: u.state,
                })),
                want: None,
                changes: vec![Change {
                    field: "state".into(),
                    from: Some(u.state.as_str().into()),
                    to: Some(
                        if action == UserAction::Delete {
                            "deleted"
                        } else {
                            "inactive"
                        }
                        .into(),
                    ),
                }]
                .into(),
                steps,
                groups_add: Vec::new(),
                groups_remove: Sparse::new(),
                move_to: None,
            });
        }
        // Drop the items of duplicates, in place (memberships are built after this).
        let mut dead = std::mem::take(&mut self.dead);
        dead.sort_unstable();
        dead.dedup();
        let (mut k, mut di) = (0usize, 0usize);
        let mut users = std::mem::take(&mut self.items);
        users.retain(|_| {
            let keep = !(di < dead.len() && dead[di] == k);
            if !keep {
                di += 1;
            }
            k += 1;
            keep
        });
        // Memberships, grouped per group in first-seen order.
        let mut groups_to_create: Vec<GroupItem> = Vec::new();
        let mut order: Vec<Text> = Vec::new();
        let mut per_group: HashMap<Text, MembershipItem> = HashMap::new();
        let by_id: HashMap<&str, &ActualGroup> =
            self.org.groups.iter().map(|g| (g.id.as_str(), g)).collect();
        for (idx, u) in users.iter().enumerate() {
            for name in &u.groups_add {
                let entry = per_group.entry(name.clone()).or_insert_with(|| {
                    order.push(name.clone());
                    let group = match self.group_by_name.get(name.as_str()) {
                        Some(g) => GroupRef::Existing {
                            id: g.id.clone(),
                            version: g.version,
                        },
                        None => {
                            groups_to_create.push(GroupItem {
                                name: name.to_string(),
                            });
                            GroupRef::New {
                                index: groups_to_create.len() - 1,
                            }
                        }
                    };
                    MembershipItem {
                        group,
                        name: name.to_string(),
                        add: Vec::new(),
                        remove: Vec::new(),
                    }
                });
                entry.add.push(match &u.target {
                    Some(t) => MemberRef::Existing { id: t.id.clone() },
                    None => MemberRef::Created { item: idx },
                });
            }
            for gid in &u.groups_remove {
                let Some(g) = by_id.get(gid.as_str()) else {
                    continue;
                };
                let Some(t) = &u.target else { continue };
                let key = self.texts.get(&g.name);
                let entry = per_group.entry(key.clone()).or_insert_with(|| {
                    order.push(key);
                    MembershipItem {
                        group: GroupRef::Existing {
                            id: g.id.clone(),
                            version: g.version,
                        },
                        name: g.name.clone(),
                        add: Vec::new(),
                        remove: Vec::new(),
                    }
                });
                entry.remove.push(t.id.clone());
            }
        }
        let memberships: Vec<MembershipItem> =
            order.iter().filter_map(|n| per_group.remove(n)).collect();
        // Division moves, grouped per target division in first-seen order.
        let mut moves: Vec<DivisionMoveItem> = Vec::new();
        let mut move_index: HashMap<Text, usize> = HashMap::new();
        for u in &users {
            let (Some(m), Some(t)) = (&u.move_to, &u.target) else {
                continue;
            };
            let k = *move_index.entry(m.to.clone()).or_insert_with(|| {
                moves.push(DivisionMoveItem {
                    division_id: m.to.to_string(),
                    name: div_names
                        .get(m.to.as_str())
                        .copied()
                        .unwrap_or(&m.to)
                        .to_string(),
                    users: Vec::new(),
                });
                moves.len() - 1
            });
            moves[k].users.push(MoveUser {
                id: t.id.clone(),
                key: u.key.clone(),
                from: m.from.clone(),
            });
        }
        let removals = users
            .iter()
            .filter(|u| matches!(u.action, UserAction::Deactivate | UserAction::Delete))
            .count() as u64;
        let actual_users = self
            .org
            .users
            .iter()
            .filter(|u| u.state != UserState::Deleted)
            .count() as u64;
        let mut used = self.used_catalog;
        used.divisions = self.org.catalog.divisions.clone();
        let mut plan = Plan {
            format: PLAN_FORMAT,
            created_at: now_rfc3339(),
            source: self.source,
            missing: self.settings.missing,
            match_order: self.settings.match_order.clone(),
            stats: PlanStats {
                desired: self.desired,
                actual_users,
                unchanged: self.unchanged,
                removals,
                read_calls: self.org.read_calls + grants.map_or(0, |g| g.read_calls),
                min_writes: 0,
            },
            groups_to_create,
            users,
            memberships,
            moves,
            managed_roles: self.managed,
            rejected: self.rejected,
            conflicts: self.conflicts,
            warnings: self
                .warnings
                .into_iter()
                .map(|(w, n)| if n > 1 { format!("{w} (×{n})") } else { w })
                .collect(),
            catalog: used,
        };
        plan.stats.min_writes = plan.min_writes();
        plan
    }
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Plans `desired` against `org` in one go (convenience over [`Planner`]).
pub fn plan_from_iter(
    org: &Org,
    settings: &Settings,
    policy: Option<&Policy>,
    source: &str,
    desired: impl IntoIterator<Item = Result<DesiredUser>>,
) -> Result<Plan> {
    let mut p = Planner::new(org, settings, policy, source);
    for d in desired {
        p.push(d?);
    }
    Ok(p.finish())
}

fn seen_keys(d: &DesiredUser) -> Vec<u64> {
    use std::hash::{Hash, Hasher};
    let h = |tag: u8, v: &str| {
        let mut s = std::collections::hash_map::DefaultHasher::new();
        tag.hash(&mut s);
        v.hash(&mut s);
        s.finish()
    };
    let mut keys = vec![h(b'u', &d.user_name.to_lowercase())];
    if let Some(x) = &d.external_id {
        keys.push(h(b'x', x));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(role: &str, div: &str) -> RoleGrant {
        RoleGrant {
            role: role.to_uppercase().into(),
            role_id: role.into(),
            division_id: div.into(),
        }
    }
    fn have(role: &str, div: &str) -> RoleDivisionPair {
        RoleDivisionPair {
            role_id: role.into(),
            division_id: div.into(),
        }
    }

    #[test]
    fn sparse_lists_read_and_write_like_vecs() {
        let empty: Sparse<String> = serde_json::from_str("[]").unwrap();
        assert!(empty.is_empty() && empty.0.is_none());
        let two: Sparse<String> = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(&two[..], ["a".to_string(), "b".to_string()]);
        assert_eq!(serde_json::to_string(&two).unwrap(), r#"["a","b"]"#);
        // An item without lists writes none of them; with one, the array.
        let mut steps = Steps::default();
        assert_eq!(serde_json::to_string(&steps).unwrap(), "{}");
        steps.grants_add.push(g("agent", "home"));
        let json = serde_json::to_value(&steps).unwrap();
        assert_eq!(json["grantsAdd"][0]["divisionId"], "home");
        let back: Steps = serde_json::from_value(json).unwrap();
        assert_eq!(back, steps);
        assert_eq!(back.writes(), 1);
    }

    #[test]
    fn repeated_strings_share_one_allocation_up_to_a_bound() {
        let mut t = Interner::default();
        let a = t.get("Agent");
        let b = t.get(&String::from("Agent"));
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, "Agent");
        assert_eq!(serde_json::to_string(&a).unwrap(), r#""Agent""#);
        for i in 0..Interner::MAX + 10 {
            t.get(&format!("title {i}"));
        }
        assert_eq!(t.0.len(), Interner::MAX, "the interner stops growing");
        let late = format!("title {}", Interner::MAX + 5);
        assert!(!Arc::ptr_eq(&t.get(&late).0, &t.get(&late).0));
        assert!(
            Arc::ptr_eq(&t.get("Agent").0, &a.0),
            "early values stay shared"
        );
    }

    #[test]
    fn role_diff_touches_only_managed_roles() {
        let managed: BTreeMap<String, String> = [("agent".to_string(), "AGENT".to_string())]
            .into_iter()
            .collect();
        // Agent moves from home to sales; admin (not managed) stays.
        let (add, remove) = role_diff(
            &[g("agent", "sales"), g("agent", "sales")],
            &[have("agent", "home"), have("admin", "home")],
            &managed,
        );
        assert_eq!(add, vec![g("agent", "sales")]);
        assert_eq!(remove, vec![g("agent", "home")]);
        // Nothing wanted: every managed grant goes, the others stay.
        let (add, remove) = role_diff(&[], &[have("agent", "x"), have("admin", "x")], &managed);
        assert!(add.is_empty());
        assert_eq!(remove, vec![g("agent", "x")]);
        // Already held: nothing to do.
        let (add, remove) = role_diff(&[g("agent", "x")], &[have("agent", "x")], &managed);
        assert!(add.is_empty() && remove.is_empty());
    }
}
