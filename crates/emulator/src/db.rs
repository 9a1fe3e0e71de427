//! The emulated org: compact in-memory structs with indexes, behind one `RwLock` in `App`.
//!
//! Users are the only entity that grows large (`--generate-users 100000`), so a `User` is kept
//! small: ids are 16-byte `Uuid`s, optional fields are `Option<Box<str>>`, collections are
//! empty `Vec`s (no allocation) for most users, and the username is not stored twice (it is
//! the email, as in Genesys).

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::EmulatorError;
use crate::config::{Seed, SeedClient};

/// Authority under which SCIM stores the `externalId` attribute (Genesys: "Always includes an
/// immutable SCIM authority prefixed with x-pc:scimv2:v1"; the exact suffix is not published,
/// so the emulator uses the bare prefix).
pub const SCIM_AUTHORITY: &str = "x-pc:scimv2:v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Active,
    Inactive,
    Deleted,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Inactive => "inactive",
            State::Deleted => "deleted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(State::Active),
            "inactive" => Some(State::Inactive),
            "deleted" => Some(State::Deleted),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub address: Box<str>,
    pub media_type: Box<str>,
    pub kind: Box<str>,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub name: Box<str>,
    pub email: Box<str>,
    pub department: Option<Box<str>>,
    pub title: Option<Box<str>>,
    pub preferred_name: Option<Box<str>>,
    pub state: State,
    pub version: u32,
    pub division: Uuid,
    pub manager: Option<Uuid>,
    pub modified_ms: i64,
    pub employee_id: Option<Box<str>>,
    pub date_hire: Option<Box<str>>,
    pub addresses: Vec<Contact>,
    /// (authorityName, externalKey); case-sensitive.
    pub external_ids: Vec<(Box<str>, Box<str>)>,
    pub skills: Vec<(Uuid, f32)>,
    pub languages: Vec<(Uuid, f32)>,
    /// (role id, division id).
    pub grants: Vec<(Uuid, Uuid)>,
    /// Group ids (reverse index of `Group::members`).
    pub groups: Vec<Uuid>,
}

#[derive(Debug, Clone)]
pub struct Division {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub home: bool,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Catalogued {
    pub id: Uuid,
    pub name: String,
    pub state: State,
    pub version: u32,
    pub division: Uuid,
    pub modified_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Queue {
    pub id: Uuid,
    pub name: String,
    pub division: Uuid,
    pub created_ms: i64,
    pub modified_ms: i64,
    /// (user id, joined)
    pub members: Vec<(Uuid, bool)>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub kind: String,
    pub visibility: String,
    pub rules_visible: bool,
    pub roles_enabled: bool,
    pub include_owners: bool,
    pub calls_enabled: bool,
    pub email: Option<String>,
    pub state: State,
    pub version: u32,
    pub modified_ms: i64,
    pub members: Vec<Uuid>,
    pub owners: Vec<Uuid>,
    pub grants: Vec<(Uuid, Uuid)>,
    /// SCIM `externalId` (`ScimV2Group.externalId`); set only through the SCIM group routes.
    pub external_id: Option<String>,
}

/// An OAuth client. `Debug` redacts the secret.
#[derive(Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub secret: String,
    pub grant_type: String,
    pub role_divisions: Vec<(Uuid, Uuid)>,
    pub scope: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub validity_seconds: u32,
    pub state: String,
    pub created_ms: i64,
    pub modified_ms: i64,
    /// The emulator's own admin client: holds every permission.
    pub admin: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret", &"[redacted]")
            .field("grant_type", &self.grant_type)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct PropertyChange {
    pub property: String,
    pub old_values: Vec<String>,
    pub new_values: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Audit {
    pub id: Uuid,
    pub date_ms: i64,
    pub client_id: String,
    pub service_name: &'static str,
    pub action: &'static str,
    pub entity_type: &'static str,
    pub entity_id: String,
    pub entity_name: Option<String>,
    pub changes: Vec<PropertyChange>,
}

#[derive(Debug, Default)]
pub struct Db {
    pub org_id: Uuid,
    pub org_name: String,
    pub divisions: Vec<Division>,
    pub roles: Vec<Role>,
    pub skills: Vec<Catalogued>,
    pub languages: Vec<Catalogued>,
    pub queues: Vec<Queue>,
    pub groups: HashMap<Uuid, Group>,
    pub users: HashMap<Uuid, User>,
    /// Lower-cased email → the user holding it (the newest one if SCIM re-used the email of a
    /// deleted user).
    pub by_email: HashMap<Box<str>, Uuid>,
    /// (authority, key) → user.
    pub by_external: HashMap<(Box<str>, Box<str>), Uuid>,
    pub clients: HashMap<String, Client>,
    pub audits: Vec<Audit>,
    /// Bumped whenever a user is added or renamed (invalidates the listing order cache).
    pub user_gen: u64,
}

/// Max audit entries kept (oldest dropped first) so long runs stay bounded in memory.
pub const MAX_AUDITS: usize = 200_000;

impl Db {
    pub fn home_division(&self) -> &Division {
        // Invariant: `build` always creates a home division.
        self.divisions
            .iter()
            .find(|d| d.home)
            .unwrap_or(&self.divisions[0])
    }
    pub fn division(&self, id: Uuid) -> Option<&Division> {
        self.divisions.iter().find(|d| d.id == id)
    }
    pub fn division_by_name(&self, name: &str) -> Option<&Division> {
        self.divisions
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }
    pub fn role(&self, id: Uuid) -> Option<&Role> {
        self.roles.iter().find(|r| r.id == id)
    }
    pub fn role_by_name(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name).or_else(|| {
            self.roles
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(name))
        })
    }
    pub fn skill(&self, id: Uuid) -> Option<&Catalogued> {
        self.skills
            .iter()
            .find(|s| s.id == id && s.state != State::Deleted)
    }
    pub fn language(&self, id: Uuid) -> Option<&Catalogued> {
        self.languages
            .iter()
            .find(|s| s.id == id && s.state != State::Deleted)
    }
    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.by_email
            .get(email.to_lowercase().as_str())
            .and_then(|id| self.users.get(id))
    }

    /// Permissions of a subject from its (role, division) grants.
    pub fn permissions_of(&self, grants: &[(Uuid, Uuid)]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (role, _) in grants {
            if let Some(r) = self.role(*role) {
                for p in &r.permissions {
                    if !out.contains(p) {
                        out.push(p.clone());
                    }
                }
            }
        }
        out
    }

    pub fn record(&mut self, audit: Audit) {
        if self.audits.len() >= MAX_AUDITS {
            self.audits.drain(..MAX_AUDITS / 10);
        }
        self.audits.push(audit);
    }

    /// Insert a new user, maintaining the indexes. The caller checked uniqueness.
    pub fn insert_user(&mut self, user: User) {
        self.user_gen += 1;
        self.by_email
            .insert(user.email.to_lowercase().into_boxed_str(), user.id);
        for (a, k) in &user.external_ids {
            self.by_external.insert((a.clone(), k.clone()), user.id);
        }
        self.users.insert(user.id, user);
    }

    /// Build the org from the seed, the admin client and generated users.
    pub fn build(
        seed: &Seed,
        admin_id: &str,
        admin_secret: &str,
        generate_users: usize,
        rng_seed: u64,
        now_ms: i64,
    ) -> Result<Db, EmulatorError> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(rng_seed);
        let mut next_id =
            move || -> Uuid { uuid::Builder::from_random_bytes(rng.random()).into_uuid() };
        let err = |m: String| EmulatorError::Seed(m);
        let mut db = Db {
            org_id: next_id(),
            org_name: seed
                .org_name
                .clone()
                .unwrap_or_else(|| "Emulated Org".into()),
            ..Db::default()
        };

        for d in &seed.divisions {
            db.divisions.push(Division {
                id: d.id.unwrap_or_else(&mut next_id),
                name: d.name.clone(),
                description: d.description.clone(),
                home: d.home,
            });
        }
        match db.divisions.iter().filter(|d| d.home).count() {
            0 => {
                if db.divisions.is_empty() {
                    db.divisions.push(Division {
                        id: next_id(),
                        name: "Home".into(),
                        description: Some("Home division".into()),
                        home: true,
                    });
                } else {
                    db.divisions[0].home = true;
                }
            }
            1 => {}
            _ => return Err(err("more than one division has home = true".into())),
        }
        let home = db.home_division().id;

        for r in &seed.roles {
            if db.roles.iter().any(|x| x.name == r.name) {
                return Err(err(format!("duplicate role name {:?}", r.name)));
            }
            db.roles.push(Role {
                id: r.id.unwrap_or_else(&mut next_id),
                name: r.name.clone(),
                description: r.description.clone(),
                permissions: r.permissions.clone(),
            });
        }
        let admin_role = next_id();
        db.roles.push(Role {
            id: admin_role,
            name: "Emulator Admin".into(),
            description: Some("Every permission (the emulator's admin OAuth client)".into()),
            permissions: vec!["*".into()],
        });
        for s in &seed.skills {
            if db
                .skills
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(&s.name))
            {
                return Err(err(format!("duplicate skill name {:?}", s.name)));
            }
            db.skills.push(Catalogued {
                id: s.id.unwrap_or_else(&mut next_id),
                name: s.name.clone(),
                state: State::Active,
                version: 1,
                division: home,
                modified_ms: now_ms,
            });
        }
        for s in &seed.languages {
            if db
                .languages
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(&s.name))
            {
                return Err(err(format!("duplicate language name {:?}", s.name)));
            }
            db.languages.push(Catalogued {
                id: s.id.unwrap_or_else(&mut next_id),
                name: s.name.clone(),
                state: State::Active,
                version: 1,
                division: home,
                modified_ms: now_ms,
            });
        }

        for (i, u) in seed.users.iter().enumerate() {
            if u.email.is_empty() || u.name.is_empty() {
                return Err(err(format!("users[{i}]: name and email are required")));
            }
            if db.by_email.contains_key(u.email.to_lowercase().as_str()) {
                return Err(err(format!("users[{i}]: duplicate email {:?}", u.email)));
            }
            let state = State::parse(&u.state)
                .ok_or_else(|| err(format!("users[{i}]: bad state {:?}", u.state)))?;
            let division = match &u.division {
                Some(n) => {
                    db.division_by_name(n)
                        .ok_or_else(|| err(format!("users[{i}]: unknown division {n:?}")))?
                        .id
                }
                None => home,
            };
            let mut grants = Vec::new();
            for r in &u.roles {
                let role = db
                    .role_by_name(r)
                    .ok_or_else(|| err(format!("users[{i}]: unknown role {r:?}")))?;
                grants.push((role.id, home));
            }
            let mut skills = Vec::new();
            for s in &u.skills {
                let sk = db
                    .skills
                    .iter()
                    .find(|x| x.name == s.name)
                    .ok_or_else(|| err(format!("users[{i}]: unknown skill {:?}", s.name)))?;
                skills.push((sk.id, s.proficiency as f32));
            }
            let mut languages = Vec::new();
            for s in &u.languages {
                let sk = db
                    .languages
                    .iter()
                    .find(|x| x.name == s.name)
                    .ok_or_else(|| err(format!("users[{i}]: unknown language {:?}", s.name)))?;
                languages.push((sk.id, s.proficiency as f32));
            }
            let user = User {
                id: u.id.unwrap_or_else(&mut next_id),
                name: u.name.clone().into(),
                email: u.email.clone().into(),
                department: u.department.clone().map(Into::into),
                title: u.title.clone().map(Into::into),
                preferred_name: None,
                state,
                version: 1,
                division,
                manager: None,
                modified_ms: now_ms,
                employee_id: u.employee_id.clone().map(Into::into),
                date_hire: None,
                addresses: Vec::new(),
                external_ids: u
                    .external_ids
                    .iter()
                    .map(|e| (e.authority.clone().into(), e.key.clone().into()))
                    .collect(),
                skills,
                languages,
                grants,
                groups: Vec::new(),
            };
            db.insert_user(user);
        }
        // Managers after every user exists.
        for u in &seed.users {
            if let Some(m) = &u.manager {
                let mid = db
                    .user_by_email(m)
                    .map(|x| x.id)
                    .ok_or_else(|| err(format!("user {:?}: unknown manager {m:?}", u.email)))?;
                if let Some(id) = db.user_by_email(&u.email).map(|x| x.id)
                    && let Some(user) = db.users.get_mut(&id)
                {
                    user.manager = Some(mid);
                }
            }
        }

        for g in &seed.groups {
            let id = g.id.unwrap_or_else(&mut next_id);
            let mut members = Vec::new();
            for m in &g.members {
                let uid = db
                    .user_by_email(m)
                    .map(|u| u.id)
                    .ok_or_else(|| err(format!("group {:?}: unknown member {m:?}", g.name)))?;
                members.push(uid);
                if let Some(u) = db.users.get_mut(&uid) {
                    u.groups.push(id);
                }
            }
            db.groups.insert(
                id,
                Group {
                    id,
                    name: g.name.clone(),
                    description: g.description.clone(),
                    kind: g.kind.clone(),
                    visibility: g.visibility.clone(),
                    rules_visible: true,
                    roles_enabled: g.roles_enabled,
                    include_owners: false,
                    calls_enabled: false,
                    email: None,
                    state: State::Active,
                    version: 1,
                    modified_ms: now_ms,
                    members,
                    owners: Vec::new(),
                    grants: Vec::new(),
                    external_id: None,
                },
            );
        }

        let queues: Vec<crate::config::SeedQueue> =
            if seed.queues.is_empty() && seed.divisions.is_empty() && seed.users.is_empty() {
                // Default catalogue when no seed describes queues.
                vec![
                    crate::config::SeedQueue {
                        name: "Support".into(),
                        ..Default::default()
                    },
                    crate::config::SeedQueue {
                        name: "Sales".into(),
                        ..Default::default()
                    },
                ]
            } else {
                seed.queues.clone()
            };
        for q in &queues {
            let division = match &q.division {
                Some(n) => {
                    db.division_by_name(n)
                        .ok_or_else(|| err(format!("queue {:?}: unknown division {n:?}", q.name)))?
                        .id
                }
                None => home,
            };
            let mut members = Vec::new();
            for m in &q.members {
                let uid = db
                    .user_by_email(m)
                    .map(|u| u.id)
                    .ok_or_else(|| err(format!("queue {:?}: unknown member {m:?}", q.name)))?;
                members.push((uid, true));
            }
            db.queues.push(Queue {
                id: q.id.unwrap_or_else(&mut next_id),
                name: q.name.clone(),
                division,
                created_ms: now_ms,
                modified_ms: now_ms,
                members,
            });
        }

        let mut clients: Vec<SeedClient> = seed.oauth_clients.clone();
        clients.retain(|c| c.id.as_deref() != Some(admin_id));
        for c in &clients {
            let mut role_divisions = Vec::new();
            for r in &c.roles {
                let role = db
                    .role_by_name(r)
                    .ok_or_else(|| err(format!("oauth client {:?}: unknown role {r:?}", c.name)))?;
                role_divisions.push((role.id, home));
            }
            let id = c.id.clone().unwrap_or_else(|| next_id().to_string());
            if c.secret.is_empty() {
                return Err(err(format!(
                    "oauth client {:?}: secret is required",
                    c.name
                )));
            }
            db.clients.insert(
                id.clone(),
                Client {
                    id,
                    name: c.name.clone(),
                    description: c.description.clone(),
                    secret: c.secret.clone(),
                    grant_type: c.authorized_grant_type.clone(),
                    role_divisions,
                    scope: Vec::new(),
                    redirect_uris: Vec::new(),
                    validity_seconds: c.access_token_validity_seconds.unwrap_or(86_400),
                    state: c.state.clone(),
                    created_ms: now_ms,
                    modified_ms: now_ms,
                    admin: false,
                },
            );
        }
        db.clients.insert(
            admin_id.to_string(),
            Client {
                id: admin_id.to_string(),
                name: "Emulator admin".into(),
                description: Some("Created by the emulator; holds every permission".into()),
                secret: admin_secret.to_string(),
                grant_type: "CLIENT-CREDENTIALS".into(),
                role_divisions: vec![(admin_role, home)],
                scope: Vec::new(),
                redirect_uris: Vec::new(),
                validity_seconds: 86_400,
                state: "active".into(),
                created_ms: now_ms,
                modified_ms: now_ms,
                admin: true,
            },
        );

        generate(&mut db, generate_users, &mut next_id, now_ms);
        Ok(db)
    }
}

const FIRST: [&str; 16] = [
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
    "Liam", "Mei", "Noor", "Omar", "Priya",
];
const LAST: [&str; 16] = [
    "Adams", "Brown", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Khan", "Lopez", "Moreau", "Novak", "Okafor", "Patel",
];
const DEPTS: [&str; 4] = ["Support", "Sales", "Billing", "Retention"];

/// Deterministic synthetic users: `user{n}@gen.example.com`, names from fixed lists.
fn generate(db: &mut Db, n: usize, next_id: &mut impl FnMut() -> Uuid, now_ms: i64) {
    let home = db.home_division().id;
    db.users.reserve(n);
    db.by_email.reserve(n);
    for i in 0..n {
        let id = next_id();
        let first = FIRST[i % FIRST.len()];
        let last = LAST[(i / FIRST.len()) % LAST.len()];
        let user = User {
            id,
            name: format!("{first} {last} {i}").into(),
            email: format!("user{i}@gen.example.com").into(),
            department: Some(DEPTS[i % DEPTS.len()].into()),
            title: Some("Agent".into()),
            preferred_name: None,
            state: State::Active,
            version: 1,
            division: home,
            manager: None,
            modified_ms: now_ms,
            employee_id: None,
            date_hire: None,
            addresses: Vec::new(),
            external_ids: Vec::new(),
            skills: Vec::new(),
            languages: Vec::new(),
            grants: Vec::new(),
            groups: Vec::new(),
        };
        db.insert_user(user);
    }
}
