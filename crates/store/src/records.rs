//! Typed CRUD for the tables later issues build on: idempotency keys, the identity map,
//! reconciler checkpoints and the users/groups read model.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use crate::db::{Pool, Store, dispatch};
use crate::error::{Result, StoreError};

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

macro_rules! user_base {
    ($r:expr) => {{
        let r = &$r;
        let resource: String = r.try_get("resource")?;
        UserRecord {
            id: r.try_get("id")?,
            user_name: r.try_get("user_name")?,
            external_id: r.try_get("external_id")?,
            display_name: r.try_get("display_name")?,
            active: r.try_get("active")?,
            version: r.try_get("version")?,
            emails: Vec::new(),
            resource: serde_json::from_str(&resource)?,
            updated_us: r.try_get("updated_us")?,
        }
    }};
}

macro_rules! group_base {
    ($r:expr) => {{
        let r = &$r;
        let resource: String = r.try_get("resource")?;
        GroupRecord {
            id: r.try_get("id")?,
            display_name: r.try_get("display_name")?,
            external_id: r.try_get("external_id")?,
            version: r.try_get("version")?,
            members: Vec::new(),
            resource: serde_json::from_str(&resource)?,
            updated_us: r.try_get("updated_us")?,
        }
    }};
}

macro_rules! begin_write {
    ($pool:expr, $tx:ident => $body:block) => {
        match $pool {
            Pool::Sqlite(p) => {
                let mut $tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            Pool::Postgres(p) => {
                let mut $tx = p.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

impl Store {
    // ----- idempotency keys -------------------------------------------------------------------

    /// Stores a response under `rec.key` unless the key exists. Returns the record now stored
    /// (the existing one when the key was taken: compare `request_hash`).
    pub async fn idempotency_put(&self, rec: &IdempotencyRecord) -> Result<IdempotencyRecord> {
        dispatch!(self.pool(), p => {
            sqlx::query(
                "INSERT INTO idempotency_key (key, request_hash, status, response, created_us, expires_us) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING",
            )
            .bind(&rec.key)
            .bind(&rec.request_hash)
            .bind(rec.status)
            .bind(&rec.response)
            .bind(rec.created_us)
            .bind(rec.expires_us)
            .execute(p)
            .await?;
        });
        self.idempotency_get(&rec.key, i64::MIN)
            .await?
            .ok_or_else(|| StoreError::Corrupt("idempotency key vanished".into()))
    }

    /// The unexpired record for `key` (expired ones count as absent).
    pub async fn idempotency_get(
        &self,
        key: &str,
        now_us: i64,
    ) -> Result<Option<IdempotencyRecord>> {
        dispatch!(self.pool(), p => {
            let row = sqlx::query(
                "SELECT key, request_hash, status, response, created_us, expires_us FROM idempotency_key \
                 WHERE key = $1 AND expires_us > $2",
            )
            .bind(key)
            .bind(now_us)
            .fetch_optional(p)
            .await?;
            Ok(match row {
                Some(r) => Some(IdempotencyRecord {
                    key: r.try_get("key")?,
                    request_hash: r.try_get("request_hash")?,
                    status: r.try_get("status")?,
                    response: r.try_get("response")?,
                    created_us: r.try_get("created_us")?,
                    expires_us: r.try_get("expires_us")?,
                }),
                None => None,
            })
        })
    }

    /// Deletes records expired at `now_us`; returns how many.
    pub async fn idempotency_purge_expired(&self, now_us: i64) -> Result<u64> {
        dispatch!(self.pool(), p => {
            let r = sqlx::query("DELETE FROM idempotency_key WHERE expires_us <= $1")
                .bind(now_us)
                .execute(p)
                .await?;
            Ok(r.rows_affected())
        })
    }

    // ----- identity map -----------------------------------------------------------------------

    pub async fn link_identity(
        &self,
        idp: &str,
        kind: &str,
        idp_id: &str,
        genesys_id: &str,
    ) -> Result<()> {
        let now = crate::now_us();
        dispatch!(self.pool(), p => {
            sqlx::query(
                "INSERT INTO identity_map (idp, kind, idp_id, genesys_id, updated_us) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (idp, kind, idp_id) DO UPDATE SET genesys_id = excluded.genesys_id, updated_us = excluded.updated_us",
            )
            .bind(idp)
            .bind(kind)
            .bind(idp_id)
            .bind(genesys_id)
            .bind(now)
            .execute(p)
            .await?;
            Ok(())
        })
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
        dispatch!(self.pool(), p => {
            let r = sqlx::query("DELETE FROM identity_map WHERE idp = $1 AND kind = $2 AND idp_id = $3")
                .bind(idp).bind(kind).bind(idp_id)
                .execute(p)
                .await?;
            Ok(r.rows_affected() == 1)
        })
    }

    // ----- reconciler checkpoints -------------------------------------------------------------

    pub async fn put_reconcile_checkpoint(&self, name: &str, state: &Value) -> Result<()> {
        let now = crate::now_us();
        let s = serde_json::to_string(state)?;
        dispatch!(self.pool(), p => {
            sqlx::query(
                "INSERT INTO reconcile_checkpoint (name, state, updated_us) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_us = excluded.updated_us",
            )
            .bind(name).bind(s).bind(now)
            .execute(p)
            .await?;
            Ok(())
        })
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
        dispatch!(self.pool(), p => {
            let r = sqlx::query("DELETE FROM reconcile_checkpoint WHERE name = $1").bind(name).execute(p).await?;
            Ok(r.rows_affected() == 1)
        })
    }

    // ----- read model: users ------------------------------------------------------------------

    /// Inserts or replaces a user and its emails in one transaction.
    pub async fn upsert_user(&self, u: &UserRecord) -> Result<()> {
        let resource = serde_json::to_string(&u.resource)?;
        begin_write!(self.pool(), tx => {
            sqlx::query(
                "INSERT INTO rm_user (id, user_name, user_name_lc, external_id, display_name, display_name_lc, active, version, resource, updated_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO UPDATE SET \
                 user_name = excluded.user_name, user_name_lc = excluded.user_name_lc, external_id = excluded.external_id, \
                 display_name = excluded.display_name, display_name_lc = excluded.display_name_lc, active = excluded.active, \
                 version = excluded.version, resource = excluded.resource, updated_us = excluded.updated_us",
            )
            .bind(&u.id)
            .bind(&u.user_name)
            .bind(lc(&u.user_name))
            .bind(&u.external_id)
            .bind(&u.display_name)
            .bind(u.display_name.as_deref().map(lc))
            .bind(u.active)
            .bind(u.version)
            .bind(&resource)
            .bind(u.updated_us)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM rm_user_email WHERE user_id = $1").bind(&u.id).execute(&mut *tx).await?;
            for e in &u.emails {
                sqlx::query(
                    "INSERT INTO rm_user_email (user_id, value_lc, value, type, is_primary) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (user_id, value_lc) DO NOTHING",
                )
                .bind(&u.id).bind(lc(&e.value)).bind(&e.value).bind(&e.kind).bind(e.primary)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    pub async fn get_user(&self, id: &str) -> Result<Option<UserRecord>> {
        let mut users = self.users_where_id(id).await?;
        Ok(users.pop())
    }

    async fn users_where_id(&self, id: &str) -> Result<Vec<UserRecord>> {
        let base: Vec<UserRecord> = dispatch!(self.pool(), p => {
            let rows = sqlx::query("SELECT * FROM rm_user WHERE id = $1").bind(id).fetch_all(p).await?;
            let mut v = Vec::new();
            for r in rows { v.push(user_base!(r)); }
            v
        });
        self.with_emails(base).await
    }

    async fn with_emails(&self, mut users: Vec<UserRecord>) -> Result<Vec<UserRecord>> {
        for u in users.iter_mut() {
            u.emails = dispatch!(self.pool(), p => {
                let rows = sqlx::query(
                    "SELECT value, type, is_primary FROM rm_user_email WHERE user_id = $1 ORDER BY is_primary DESC, value_lc",
                )
                .bind(&u.id)
                .fetch_all(p)
                .await?;
                let mut v = Vec::new();
                for r in rows {
                    v.push(EmailRecord { value: r.try_get("value")?, kind: r.try_get("type")?, primary: r.try_get("is_primary")? });
                }
                v
            });
        }
        Ok(users)
    }

    /// Users whose attribute equals the value (an index lookup on both backends).
    pub async fn find_users(&self, by: &UserLookup) -> Result<Vec<UserRecord>> {
        let base: Vec<UserRecord> = dispatch!(self.pool(), p => {
            let q = match by {
                UserLookup::UserName(v) => sqlx::query("SELECT * FROM rm_user WHERE user_name_lc = $1 ORDER BY id").bind(lc(v)),
                UserLookup::ExternalId(v) => sqlx::query("SELECT * FROM rm_user WHERE external_id = $1 ORDER BY id").bind(v.clone()),
                UserLookup::DisplayName(v) => sqlx::query("SELECT * FROM rm_user WHERE display_name_lc = $1 ORDER BY id").bind(lc(v)),
                UserLookup::Email(v) => sqlx::query(
                    "SELECT * FROM rm_user WHERE id IN (SELECT user_id FROM rm_user_email WHERE value_lc = $1) ORDER BY id",
                ).bind(lc(v)),
            };
            let rows = q.fetch_all(p).await?;
            let mut v = Vec::new();
            for r in rows { v.push(user_base!(r)); }
            v
        });
        self.with_emails(base).await
    }

    /// A page of users ordered by id (`after_id` exclusive).
    pub async fn list_users(&self, after_id: &str, limit: i64) -> Result<Vec<UserRecord>> {
        let base: Vec<UserRecord> = dispatch!(self.pool(), p => {
            let rows = sqlx::query("SELECT * FROM rm_user WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after_id).bind(limit.max(0)).fetch_all(p).await?;
            let mut v = Vec::new();
            for r in rows { v.push(user_base!(r)); }
            v
        });
        self.with_emails(base).await
    }

    pub async fn delete_user(&self, id: &str) -> Result<bool> {
        Ok(begin_write!(self.pool(), tx => {
            sqlx::query("DELETE FROM rm_user_email WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM rm_group_member WHERE member_id = $1").bind(id).execute(&mut *tx).await?;
            let r = sqlx::query("DELETE FROM rm_user WHERE id = $1").bind(id).execute(&mut *tx).await?;
            r.rows_affected() == 1
        }))
    }

    // ----- read model: groups -----------------------------------------------------------------

    /// Inserts or replaces a group and its member list in one transaction.
    pub async fn upsert_group(&self, g: &GroupRecord) -> Result<()> {
        let resource = serde_json::to_string(&g.resource)?;
        begin_write!(self.pool(), tx => {
            sqlx::query(
                "INSERT INTO rm_group (id, display_name, display_name_lc, external_id, version, resource, updated_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, \
                 display_name_lc = excluded.display_name_lc, external_id = excluded.external_id, version = excluded.version, \
                 resource = excluded.resource, updated_us = excluded.updated_us",
            )
            .bind(&g.id).bind(&g.display_name).bind(lc(&g.display_name)).bind(&g.external_id)
            .bind(g.version).bind(&resource).bind(g.updated_us)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM rm_group_member WHERE group_id = $1").bind(&g.id).execute(&mut *tx).await?;
            for m in &g.members {
                sqlx::query("INSERT INTO rm_group_member (group_id, member_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(&g.id).bind(m).execute(&mut *tx).await?;
            }
        });
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
        Ok(begin_write!(self.pool(), tx => {
            sqlx::query("DELETE FROM rm_group_member WHERE group_id = $1").bind(id).execute(&mut *tx).await?;
            let r = sqlx::query("DELETE FROM rm_group WHERE id = $1").bind(id).execute(&mut *tx).await?;
            r.rows_affected() == 1
        }))
    }
}
