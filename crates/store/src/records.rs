//! Typed CRUD for the tables later issues build on: idempotency keys, the identity map,
//! reconciler checkpoints and the users/groups read model.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use crate::db::{Store, dispatch};
use crate::error::{Result, StoreError};
use crate::write::Change;

/// A stored response to an incoming request with an idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub key: String,
    /// Hash of the request (method, path, body) so a reused key with another request is caught.
    pub request_hash: String,
    pub status: i64,
    pub response: String,
    pub created_us: i64,
    pub expires_us: i64,
}

/// What [`Store::idempotency_claim`] found for a key.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyClaim {
    /// This caller holds the key now (a new key, or one whose record had expired): run the
    /// request, then [`Store::idempotency_complete`] or [`Store::idempotency_release`] with
    /// `claim`. Until then other claims see [`IdempotencyClaim::InFlight`]; if this process
    /// dies, the claim lapses at `expires_us` (the lease) and the key can be claimed again.
    Won { claim: String, expires_us: i64 },
    /// Another request with this key (on this or another replica) is running; its lease ends at
    /// `expires_us`. `request_hash` is that request's hash.
    InFlight {
        request_hash: String,
        expires_us: i64,
    },
    /// The key was answered: the stored answer (compare `request_hash`).
    Completed(IdempotencyRecord),
}

/// One IdP identity linked to one Genesys id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityLink {
    /// IdP name from the config, e.g. `entra-prod`.
    pub idp: String,
    /// `user` or `group`.
    pub kind: String,
    /// The IdP's id (SCIM `externalId` or the IdP object id).
    pub idp_id: String,
    pub genesys_id: String,
    pub updated_us: i64,
}

/// An email of a read-model user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRecord {
    pub value: String,
    pub kind: Option<String>,
    pub primary: bool,
}

/// The gateway's read model of one Genesys user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Genesys user id.
    pub id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    /// Genesys `version` (optimistic concurrency).
    pub version: i64,
    pub emails: Vec<EmailRecord>,
    /// The full resource as the gateway keeps it.
    pub resource: Value,
    pub updated_us: i64,
}

/// The gateway's read model of one Genesys group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub version: i64,
    pub members: Vec<String>,
    pub resource: Value,
    pub updated_us: i64,
}

/// An indexed attribute a SCIM `eq` filter may look users up by. `userName`, `emails` and
/// `displayName` compare case-insensitively (RFC 7643 caseExact=false); `externalId` exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLookup {
    UserName(String),
    ExternalId(String),
    Email(String),
    DisplayName(String),
}

fn lc(s: &str) -> String {
    s.to_lowercase()
}

/// A user (without emails) from a row: a sqlx row (`try_get`, the default) or a rusqlite row of
/// the SQLite point readers (`get`).
macro_rules! user_base {
    ($r:expr) => {
        user_base!($r, try_get)
    };
    ($r:expr, $get:ident) => {{
        let r = &$r;
        let resource: String = r.$get("resource")?;
        UserRecord {
            id: r.$get("id")?,
            user_name: r.$get("user_name")?,
            external_id: r.$get("external_id")?,
            display_name: r.$get("display_name")?,
            active: r.$get("active")?,
            version: r.$get("version")?,
            emails: Vec::new(),
            resource: serde_json::from_str(&resource)?,
            updated_us: r.$get("updated_us")?,
        }
    }};
}

/// The user query with its emails joined, for a `WHERE` condition on `u` (a literal, so the SQL
/// stays a `&'static str`).
macro_rules! users_joined {
    ($cond:literal) => {
        concat!(
            "SELECT u.id, u.user_name, u.external_id, u.display_name, u.active, u.version, u.resource, u.updated_us, ",
            "e.value AS e_value, e.type AS e_type, e.is_primary AS e_primary ",
            "FROM rm_user u LEFT JOIN rm_user_email e ON e.user_id = u.id WHERE ",
            $cond,
            " ORDER BY u.id, e.is_primary DESC, e.value_lc"
        )
    };
}

/// Folds one joined row (rows ordered by user id, one per email or one with NULL email
/// columns) into `users`: a new user, or one more email of the last; each user's resource JSON
/// is parsed once. `$get` as in `user_base!`.
macro_rules! fold_user_row {
    ($users:expr, $r:expr, $get:ident) => {{
        let users: &mut Vec<UserRecord> = $users;
        let r = &$r;
        let id: String = r.$get("id")?;
        if users.last().is_none_or(|last| last.id != id) {
            users.push(user_base!(r, $get));
        }
        let value: Option<String> = r.$get("e_value")?;
        if let (Some(value), Some(u)) = (value, users.last_mut()) {
            let primary: Option<bool> = r.$get("e_primary")?;
            u.emails.push(EmailRecord {
                value,
                kind: r.$get("e_type")?,
                primary: primary.unwrap_or(false),
            });
        }
    }};
}

/// Folds sqlx's joined rows into users (see `fold_user_row!`).
macro_rules! users_from_rows {
    ($rows:expr) => {{
        let mut users: Vec<UserRecord> = Vec::new();
        for r in $rows.iter() {
            fold_user_row!(&mut users, r, try_get);
        }
        users
    }};
}

/// Runs a `users_joined!` query with one value on a SQLite point-read connection.
fn users_inline(c: &rusqlite::Connection, sql: &str, value: &str) -> Result<Vec<UserRecord>> {
    let mut st = c.prepare_cached(&crate::sqlite_writer::numbered(sql))?;
    let mut rows = st.query([value])?;
    let mut users = Vec::new();
    while let Some(r) = rows.next()? {
        fold_user_row!(&mut users, r, get);
    }
    Ok(users)
}

macro_rules! group_base {
    ($r:expr) => {
        group_base!($r, try_get)
    };
    ($r:expr, $get:ident) => {{
        let r = &$r;
        let resource: String = r.$get("resource")?;
        GroupRecord {
            id: r.$get("id")?,
            display_name: r.$get("display_name")?,
            external_id: r.$get("external_id")?,
            version: r.$get("version")?,
            members: Vec::new(),
            resource: serde_json::from_str(&resource)?,
            updated_us: r.$get("updated_us")?,
        }
    }};
}

impl Store {
    // ----- idempotency keys -------------------------------------------------------------------

    /// Stores a response under `rec.key` unless the key exists. Returns the record now stored
    /// (the existing one when the key was taken: compare `request_hash`; an in-flight claim's
    /// record has status 0 and an empty response). Requests that run under a key use
    /// [`Store::idempotency_claim`] instead, which also covers requests still running.
    pub async fn idempotency_put(&self, rec: &IdempotencyRecord) -> Result<IdempotencyRecord> {
        self.change_one(Change::PutIdempotency(rec.clone())).await?;
        self.idempotency_row(&rec.key, i64::MIN)
            .await?
            .map(|(r, _)| r)
            .ok_or_else(|| StoreError::Corrupt("idempotency key vanished".into()))
    }

    /// The unexpired answer stored for `key` (expired ones and in-flight claims count as
    /// absent).
    pub async fn idempotency_get(
        &self,
        key: &str,
        now_us: i64,
    ) -> Result<Option<IdempotencyRecord>> {
        Ok(match self.idempotency_row(key, now_us).await? {
            Some((rec, None)) => Some(rec),
            _ => None,
        })
    }

    /// Claims `key` for a request about to run, atomically across every replica sharing the
    /// database: inserts an in-flight record (the request's hash, no answer yet) that lapses
    /// `lease_us` after `now_us`, or takes over a record of the key expired at `now_us`. When
    /// the key is taken, says by what (a request in flight, or a stored answer).
    ///
    /// The winner must end its claim: [`Store::idempotency_complete`] with the answer, or
    /// [`Store::idempotency_release`] when no answer may be stored. A claim never ended (the
    /// process crashed) blocks the key until its lease ends.
    pub async fn idempotency_claim(
        &self,
        key: &str,
        request_hash: &str,
        now_us: i64,
        lease_us: i64,
    ) -> Result<IdempotencyClaim> {
        let claim = uuid::Uuid::now_v7().to_string();
        let expires_us = now_us.saturating_add(lease_us.max(1));
        // The record that refused the claim can be released (or completed and purged) before it
        // is read: claim again. Three rounds settle any real race.
        for _ in 0..3 {
            let won = self
                .change_one(Change::ClaimIdempotency {
                    key: key.to_string(),
                    request_hash: request_hash.to_string(),
                    claim: claim.clone(),
                    now_us,
                    expires_us,
                })
                .await?;
            if won == 1 {
                return Ok(IdempotencyClaim::Won { claim, expires_us });
            }
            match self.idempotency_row(key, now_us).await? {
                Some((rec, None)) => return Ok(IdempotencyClaim::Completed(rec)),
                Some((rec, Some(_))) => {
                    return Ok(IdempotencyClaim::InFlight {
                        request_hash: rec.request_hash,
                        expires_us: rec.expires_us,
                    });
                }
                None => continue,
            }
        }
        // The key keeps changing hands: tell the caller to come back (the safe answer).
        Ok(IdempotencyClaim::InFlight {
            request_hash: request_hash.to_string(),
            expires_us: now_us,
        })
    }

    /// Stores the answer of a key claimed with `claim` (`rec.key`; its status, response,
    /// created and expiry times replace the in-flight record's). Returns false, storing
    /// nothing, when the claim no longer holds the key (its lease ran out and another request
    /// claimed it, or it was released).
    pub async fn idempotency_complete(&self, claim: &str, rec: &IdempotencyRecord) -> Result<bool> {
        let n = self
            .change_one(Change::CompleteIdempotency {
                claim: claim.to_string(),
                rec: rec.clone(),
            })
            .await?;
        Ok(n == 1)
    }

    /// Deletes the in-flight record of a key claimed with `claim`, so the next request with the
    /// key runs. Returns false when the claim no longer held the key.
    pub async fn idempotency_release(&self, key: &str, claim: &str) -> Result<bool> {
        let n = self
            .change_one(Change::ReleaseIdempotency {
                key: key.to_string(),
                claim: claim.to_string(),
            })
            .await?;
        Ok(n == 1)
    }

    /// Extends the lease of a key claimed with `claim` that is still in flight to `expires_us`
    /// (a request running longer than one lease renews it, so its key is not taken over while
    /// it runs). Returns false when the claim no longer holds the key.
    pub async fn idempotency_renew(&self, key: &str, claim: &str, expires_us: i64) -> Result<bool> {
        let n = self
            .change_one(Change::RenewIdempotency {
                key: key.to_string(),
                claim: claim.to_string(),
                expires_us,
            })
            .await?;
        Ok(n == 1)
    }

    /// The unexpired record of `key` with its claim (None: an answer).
    async fn idempotency_row(
        &self,
        key: &str,
        now_us: i64,
    ) -> Result<Option<(IdempotencyRecord, Option<String>)>> {
        dispatch!(self.pool(), p => {
            let row = sqlx::query(
                "SELECT key, request_hash, status, response, created_us, expires_us, claim FROM idempotency_key \
                 WHERE key = $1 AND expires_us > $2",
            )
            .bind(key)
            .bind(now_us)
            .fetch_optional(p)
            .await?;
            Ok(match row {
                Some(r) => Some((
                    IdempotencyRecord {
                        key: r.try_get("key")?,
                        request_hash: r.try_get("request_hash")?,
                        status: r.try_get("status")?,
                        response: r.try_get("response")?,
                        created_us: r.try_get("created_us")?,
                        expires_us: r.try_get("expires_us")?,
                    },
                    r.try_get::<Option<String>, _>("claim")?,
                )),
                None => None,
            })
        })
    }

    /// Deletes records expired at `now_us`; returns how many.
    pub async fn idempotency_purge_expired(&self, now_us: i64) -> Result<u64> {
        self.change_one(Change::PurgeIdempotency { now_us }).await
    }

    // ----- identity map -----------------------------------------------------------------------

    pub async fn link_identity(
        &self,
        idp: &str,
        kind: &str,
        idp_id: &str,
        genesys_id: &str,
    ) -> Result<()> {
        self.change_one(Change::LinkIdentity {
            idp: idp.to_string(),
            kind: kind.to_string(),
            idp_id: idp_id.to_string(),
            genesys_id: genesys_id.to_string(),
        })
        .await?;
        Ok(())
    }

    pub async fn identity_by_idp(
        &self,
        idp: &str,
        kind: &str,
        idp_id: &str,
    ) -> Result<Option<IdentityLink>> {
        dispatch!(self.pool(), p => {
            let row = sqlx::query(
                "SELECT idp, kind, idp_id, genesys_id, updated_us FROM identity_map WHERE idp = $1 AND kind = $2 AND idp_id = $3",
            )
            .bind(idp).bind(kind).bind(idp_id)
            .fetch_optional(p)
            .await?;
            Ok(match row {
                Some(r) => Some(IdentityLink {
                    idp: r.try_get("idp")?, kind: r.try_get("kind")?, idp_id: r.try_get("idp_id")?,
                    genesys_id: r.try_get("genesys_id")?, updated_us: r.try_get("updated_us")?,
                }),
                None => None,
            })
        })
    }

    /// Every IdP identity linked to a Genesys id.
    pub async fn identities_by_genesys(
        &self,
        kind: &str,
        genesys_id: &str,
    ) -> Result<Vec<IdentityLink>> {
        dispatch!(self.pool(), p => {
            let rows = sqlx::query(
                "SELECT idp, kind, idp_id, genesys_id, updated_us FROM identity_map WHERE kind = $1 AND genesys_id = $2 ORDER BY idp, idp_id",
            )
            .bind(kind).bind(genesys_id)
            .fetch_all(p)
            .await?;
            let mut v = Vec::with_capacity(rows.len());
            for r in rows {
                v.push(IdentityLink {
                    idp: r.try_get("idp")?, kind: r.try_get("kind")?, idp_id: r.try_get("idp_id")?,
                    genesys_id: r.try_get("genesys_id")?, updated_us: r.try_get("updated_us")?,
                });
            }
            Ok(v)
        })
    }

    pub async fn unlink_identity(&self, idp: &str, kind: &str, idp_id: &str) -> Result<bool> {
        let n = self
            .change_one(Change::UnlinkIdentity {
                idp: idp.to_string(),
                kind: kind.to_string(),
                idp_id: idp_id.to_string(),
            })
            .await?;
        Ok(n == 1)
    }

    // ----- reconciler checkpoints -------------------------------------------------------------

    pub async fn put_reconcile_checkpoint(&self, name: &str, state: &Value) -> Result<()> {
        self.change_one(Change::PutCheckpoint {
            name: name.to_string(),
            state: state.clone(),
        })
        .await?;
        Ok(())
    }

    pub async fn reconcile_checkpoint(&self, name: &str) -> Result<Option<Value>> {
        let s: Option<String> = dispatch!(self.pool(), p => {
            let row = sqlx::query("SELECT state FROM reconcile_checkpoint WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await?;
            match row { Some(r) => Some(r.try_get("state")?), None => None }
        });
        Ok(match s {
            Some(s) => Some(serde_json::from_str(&s)?),
            None => None,
        })
    }

    pub async fn delete_reconcile_checkpoint(&self, name: &str) -> Result<bool> {
        let n = self
            .change_one(Change::DeleteCheckpoint {
                name: name.to_string(),
            })
            .await?;
        Ok(n == 1)
    }

    // ----- read model: users ------------------------------------------------------------------

    /// Inserts or replaces a user and its emails in one transaction (through the writer; use
    /// [`Store::commit`] to commit it together with the audit entry describing it).
    pub async fn upsert_user(&self, u: &UserRecord) -> Result<()> {
        self.change_one(Change::UpsertUser(u.clone())).await?;
        Ok(())
    }

    pub async fn get_user(&self, id: &str) -> Result<Option<UserRecord>> {
        let mut users = match self.point_reads() {
            Some(r) => r.with(|c| users_inline(c, users_joined!("u.id = $1"), id))?,
            None => dispatch!(self.pool(), p => {
                let rows = sqlx::query(users_joined!("u.id = $1"))
                    .bind(id)
                    .fetch_all(p)
                    .await?;
                users_from_rows!(rows)
            }),
        };
        Ok(users.pop())
    }

    /// Users whose attribute equals the value: one index lookup (each user row comes with its
    /// emails, joined); on SQLite inline on the caller's thread, on PostgreSQL one round trip.
    pub async fn find_users(&self, by: &UserLookup) -> Result<Vec<UserRecord>> {
        let (sql, value): (&'static str, String) = match by {
            UserLookup::UserName(v) => (users_joined!("u.user_name_lc = $1"), lc(v)),
            UserLookup::ExternalId(v) => (users_joined!("u.external_id = $1"), v.clone()),
            UserLookup::DisplayName(v) => (users_joined!("u.display_name_lc = $1"), lc(v)),
            UserLookup::Email(v) => (
                users_joined!("u.id IN (SELECT user_id FROM rm_user_email WHERE value_lc = $1)"),
                lc(v),
            ),
        };
        match self.point_reads() {
            Some(r) => r.with(|c| users_inline(c, sql, &value)),
            None => dispatch!(self.pool(), p => {
                let rows = sqlx::query(sql).bind(value).fetch_all(p).await?;
                Ok(users_from_rows!(rows))
            }),
        }
    }

    /// A page of users ordered by id (`after_id` exclusive), with their emails, in one round trip.
    pub async fn list_users(&self, after_id: &str, limit: i64) -> Result<Vec<UserRecord>> {
        dispatch!(self.pool(), p => {
            let rows = sqlx::query(
                "SELECT u.id, u.user_name, u.external_id, u.display_name, u.active, u.version, u.resource, u.updated_us, \
                 e.value AS e_value, e.type AS e_type, e.is_primary AS e_primary \
                 FROM (SELECT * FROM rm_user WHERE id > $1 ORDER BY id LIMIT $2) u \
                 LEFT JOIN rm_user_email e ON e.user_id = u.id \
                 ORDER BY u.id, e.is_primary DESC, e.value_lc",
            )
            .bind(after_id)
            .bind(limit.max(0))
            .fetch_all(p)
            .await?;
            Ok(users_from_rows!(rows))
        })
    }

    pub async fn delete_user(&self, id: &str) -> Result<bool> {
        Ok(self.change_one(Change::DeleteUser(id.to_string())).await? == 1)
    }

    // ----- read model: groups -----------------------------------------------------------------

    /// Inserts or replaces a group and its member list in one transaction (through the writer).
    pub async fn upsert_group(&self, g: &GroupRecord) -> Result<()> {
        self.change_one(Change::UpsertGroup(g.clone())).await?;
        Ok(())
    }

    async fn with_members(&self, mut groups: Vec<GroupRecord>) -> Result<Vec<GroupRecord>> {
        for g in groups.iter_mut() {
            g.members = dispatch!(self.pool(), p => {
                let rows = sqlx::query("SELECT member_id FROM rm_group_member WHERE group_id = $1 ORDER BY member_id")
                    .bind(&g.id).fetch_all(p).await?;
                let mut v = Vec::new();
                for r in rows { v.push(r.try_get::<String, _>("member_id")?); }
                v
            });
        }
        Ok(groups)
    }

    pub async fn get_group(&self, id: &str) -> Result<Option<GroupRecord>> {
        let base: Vec<GroupRecord> = dispatch!(self.pool(), p => {
            let rows = sqlx::query("SELECT * FROM rm_group WHERE id = $1").bind(id).fetch_all(p).await?;
            let mut v = Vec::new();
            for r in rows { v.push(group_base!(r)); }
            v
        });
        Ok(self.with_members(base).await?.pop())
    }

    /// Groups by displayName (case-insensitive) — an index lookup.
    pub async fn find_groups_by_display_name(&self, name: &str) -> Result<Vec<GroupRecord>> {
        let base: Vec<GroupRecord> = dispatch!(self.pool(), p => {
            let rows = sqlx::query("SELECT * FROM rm_group WHERE display_name_lc = $1 ORDER BY id")
                .bind(lc(name)).fetch_all(p).await?;
            let mut v = Vec::new();
            for r in rows { v.push(group_base!(r)); }
            v
        });
        self.with_members(base).await
    }

    /// Groups by externalId (exact) — an index lookup.
    pub async fn find_groups_by_external_id(&self, external_id: &str) -> Result<Vec<GroupRecord>> {
        let base: Vec<GroupRecord> = dispatch!(self.pool(), p => {
            let rows = sqlx::query("SELECT * FROM rm_group WHERE external_id = $1 ORDER BY id")
                .bind(external_id).fetch_all(p).await?;
            let mut v = Vec::new();
            for r in rows { v.push(group_base!(r)); }
            v
        });
        self.with_members(base).await
    }

    /// Ids of the groups a member belongs to.
    pub async fn groups_of_member(&self, member_id: &str) -> Result<Vec<String>> {
        dispatch!(self.pool(), p => {
            let rows = sqlx::query("SELECT group_id FROM rm_group_member WHERE member_id = $1 ORDER BY group_id")
                .bind(member_id).fetch_all(p).await?;
            let mut v = Vec::new();
            for r in rows { v.push(r.try_get::<String, _>("group_id")?); }
            Ok(v)
        })
    }

    pub async fn delete_group(&self, id: &str) -> Result<bool> {
        Ok(self.change_one(Change::DeleteGroup(id.to_string())).await? == 1)
    }
}
