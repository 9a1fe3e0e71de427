//! The actual state: one read of the org with the fewest calls (users at page size 500 with
//! groups, skills and languages expanded, page 1 first and the others concurrently; groups,
//! skill, language, role and division catalogues), and, only when the desired state names
//! roles, the grants of those roles ([`RoleGrants`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use gcprov_genesys::api::SUBJECT_GRANTS_PAGE_SIZE;
use gcprov_genesys::models::{EntityState, RoleDivisionPair, User};
use gcprov_genesys::{GenesysClient, ListUsers};
use serde::{Deserialize, Serialize};

use crate::desired::Proficiency;
use crate::error::Result;

/// Largest page size `GET /api/v2/users` accepts (reference: Genesys' own Terraform exporter).
pub const USER_PAGE_SIZE: u32 = 500;

/// User pages (and role-grant listings) read at the same time after page 1. The client has no
/// concurrency limit of its own; its per-token pacer sets the rate, so this only hides latency:
/// the requests in flight must cover rate × round trip. At Genesys' 300 requests a minute one
/// or two suffice; 8 keeps the read at the pacer's rate when round trips stretch on a loaded
/// machine (4 did not: `docs/benchmarks/reconcile.md`). No concurrency limit is published;
/// the pacer never lets more than the rate through, and at most 8 pages (≈ 1–2 MB each) wait
/// to be put in order.
pub const READ_CONCURRENCY: usize = 8;

/// User state as the reconciler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserState {
    Active,
    Inactive,
    Deleted,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Inactive => "inactive",
            UserState::Deleted => "deleted",
        }
    }
}

/// A routing skill or language held by a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    pub id: String,
    pub name: String,
    pub proficiency: f64,
}

/// The parts of a Genesys user the reconciler compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActualUser {
    pub id: String,
    pub name: String,
    pub email: String,
    pub state: UserState,
    pub version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division_id: Option<String>,
    /// `employerInfo.employeeId`: where the reconciler keeps the desired `externalId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<String>,
    /// Group ids (`None` when the read did not expand groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<Held>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<Held>>,
    /// The user's own role grants (role id, division id), sorted; `None` when they were not
    /// read (the user listing does not carry divisions: see [`RoleGrants`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<RoleDivisionPair>>,
}

impl ActualUser {
    /// From an API `User`; `None` when it lacks an id.
    pub fn from_api(u: &User) -> Option<ActualUser> {
        let id = u.id.clone()?;
        let state = match &u.state {
            Some(EntityState::Deleted) => UserState::Deleted,
            Some(EntityState::Inactive) => UserState::Inactive,
            _ => UserState::Active,
        };
        let held = |id: &Option<String>, name: &Option<String>, p: Option<f64>| {
            Some(Held {
                id: id.clone()?,
                name: name.clone().unwrap_or_default(),
                proficiency: p.unwrap_or(0.0),
            })
        };
        Some(ActualUser {
            id,
            name: u.name.clone().unwrap_or_default(),
            email: u
                .email
                .clone()
                .or_else(|| u.username.clone())
                .unwrap_or_default(),
            state,
            version: u.version.unwrap_or(0),
            title: u.title.clone().filter(|s| !s.is_empty()),
            department: u.department.clone().filter(|s| !s.is_empty()),
            division_id: u.division.as_ref().and_then(|d| d.id.clone()),
            employee_id: u
                .employer_info
                .as_ref()
                .and_then(|e| e.employee_id.clone())
                .filter(|s| !s.is_empty()),
            groups: u
                .groups
                .as_ref()
                .map(|gs| gs.iter().filter_map(|g| g.id.clone()).collect()),
            skills: u.skills.as_ref().map(|s| {
                s.iter()
                    .filter_map(|x| held(&x.id, &x.name, x.proficiency))
                    .collect()
            }),
            languages: u.languages.as_ref().map(|s| {
                s.iter()
                    .filter_map(|x| held(&x.id, &x.name, x.proficiency))
                    .collect()
            }),
            grants: None,
        })
    }
}

/// A directory group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActualGroup {
    pub id: String,
    pub name: String,
    pub version: i64,
}

/// Name → id catalogues the plan needs to resolve desired names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Skill name → id (names are case-sensitive in Genesys).
    pub skills: HashMap<String, String>,
    pub languages: HashMap<String, String>,
    /// Role name → id.
    #[serde(default)]
    pub roles: HashMap<String, String>,
    /// Division name (lower-cased) → id.
    pub divisions: HashMap<String, String>,
    pub home_division: Option<String>,
}

impl Catalog {
    pub fn resolve_skills(&self, want: &[Proficiency]) -> (Vec<Held>, Vec<String>) {
        resolve(&self.skills, want)
    }
    pub fn resolve_languages(&self, want: &[Proficiency]) -> (Vec<Held>, Vec<String>) {
        resolve(&self.languages, want)
    }
}

fn resolve(map: &HashMap<String, String>, want: &[Proficiency]) -> (Vec<Held>, Vec<String>) {
    let mut ok = Vec::with_capacity(want.len());
    let mut unknown = Vec::new();
    for p in want {
        match map.get(&p.name) {
            Some(id) => ok.push(Held {
                id: id.clone(),
                name: p.name.clone(),
                proficiency: p.proficiency,
            }),
            None => unknown.push(p.name.clone()),
        }
    }
    (ok, unknown)
}

/// The org as read for one plan.
#[derive(Debug, Clone, Default)]
pub struct Org {
    pub users: Vec<ActualUser>,
    pub groups: Vec<ActualGroup>,
    pub catalog: Catalog,
    /// API calls the read took.
    pub read_calls: u64,
}

impl Org {
    /// Reads the whole org: users in every state (deleted ones can be restored) at the largest
    /// page size with `groups`, `skills` and `languages` expanded, then groups, skills,
    /// languages, roles and divisions. User pages after the first are read
    /// [`READ_CONCURRENCY`] at a time.
    pub async fn read(client: &GenesysClient) -> Result<Org> {
        Org::read_with(client, READ_CONCURRENCY).await
    }

    /// [`Org::read`] with `page_concurrency` user pages in flight (1 = one after the other).
    /// The result does not depend on it: pages are put together in page order.
    pub async fn read_with(client: &GenesysClient, page_concurrency: usize) -> Result<Org> {
        let before = client.stats().paced_requests;
        // The user pages and the catalogues are read concurrently (the pacer still spaces them).
        let users_fut = read_users(client, page_concurrency.max(1));
        let groups_fut = client
            .list_groups()
            .try_filter_map(|g| async move {
                Ok(match (g.id, g.name) {
                    (Some(id), Some(name)) => Some(ActualGroup {
                        id,
                        name,
                        version: g.version.unwrap_or(0),
                    }),
                    _ => None,
                })
            })
            .try_collect::<Vec<ActualGroup>>();
        let skills_fut = client.list_skills(None).try_collect::<Vec<_>>();
        let langs_fut = client.list_languages(None).try_collect::<Vec<_>>();
        let divs_fut = client.list_divisions().try_collect::<Vec<_>>();
        let roles_fut = client.list_roles(None).try_collect::<Vec<_>>();
        let (users, groups, skills, langs, divs, roles) = futures::try_join!(
            users_fut, groups_fut, skills_fut, langs_fut, divs_fut, roles_fut
        )?;
        let mut catalog = Catalog::default();
        for r in roles {
            if let (Some(id), Some(name)) = (r.id, r.name) {
                catalog.roles.insert(name, id);
            }
        }
        for s in skills {
            if let (Some(id), Some(name)) = (s.id, s.name) {
                catalog.skills.insert(name, id);
            }
        }
        for s in langs {
            if let (Some(id), Some(name)) = (s.id, s.name) {
                catalog.languages.insert(name, id);
            }
        }
        for d in divs {
            if let (Some(id), Some(name)) = (d.id, d.name) {
                if d.home_division == Some(true) {
                    catalog.home_division = Some(id.clone());
                }
                catalog.divisions.insert(name.to_lowercase(), id);
            }
        }
        let after = client.stats().paced_requests;
        Ok(Org {
            users,
            groups,
            catalog,
            read_calls: after.saturating_sub(before),
        })
    }
}

/// Options of the org's user listing.
fn user_listing() -> ListUsers {
    ListUsers {
        page_size: Some(USER_PAGE_SIZE),
        state: Some("any".into()),
        expand: vec!["groups".into(), "skills".into(), "languages".into()],
        ids: Vec::new(),
    }
}

/// Page 1, then pages 2..=pageCount `concurrency` at a time, in page order. A user that moves
/// between pages while they are read (the org changes under the listing) can show up twice:
/// the first copy is kept, as a sequential read would.
async fn read_users(
    client: &GenesysClient,
    concurrency: usize,
) -> gcprov_genesys::Result<Vec<ActualUser>> {
    let opts = user_listing();
    let first = client.list_users_page(&opts, 1).await?;
    let mut users: Vec<ActualUser> = first
        .entities
        .iter()
        .filter_map(ActualUser::from_api)
        .collect();
    let n = first.entities.len();
    match first.page_count {
        Some(pc) if pc > 1 && n > 0 => {
            let last = u32::try_from(pc).unwrap_or(u32::MAX);
            let opts = &opts;
            let mut pages = futures::stream::iter(2..=last)
                .map(|p| client.list_users_page(opts, p))
                .buffered(concurrency);
            while let Some(page) = pages.next().await {
                let page = page?;
                users.extend(page.entities.iter().filter_map(ActualUser::from_api));
            }
        }
        Some(_) => {}
        None if n >= USER_PAGE_SIZE as usize => {
            // No pageCount: keep reading one page at a time until a short page.
            let mut p = 2u32;
            loop {
                let page = client.list_users_page(&opts, p).await?;
                let got = page.entities.len();
                users.extend(page.entities.iter().filter_map(ActualUser::from_api));
                if got < USER_PAGE_SIZE as usize {
                    break;
                }
                p += 1;
            }
        }
        None => {}
    }
    let mut seen = HashSet::with_capacity(users.len());
    users.retain(|u| seen.insert(u.id.clone()));
    Ok(users)
}

/// The actual grants of the roles the desired state names, per user (read with
/// `GET /api/v2/authorization/roles/{roleId}/subjectgrants`, paged, one listing per role).
///
/// Why this read: the user listing (`expand=authorization`) gives role names without
/// divisions, so it can neither show a grant's division nor justify removing one; reading each
/// user's `GET /authorization/subjects/{id}` costs one call per user. One paged listing per
/// named role costs `ceil(holders / page size)` calls per role and is only made when the
/// desired state carries roles.
///
/// Unknown facts and the conservative choices:
/// - The listing's largest page size is not published (the default is 25):
///   [`SUBJECT_GRANTS_PAGE_SIZE`] (100) is used. Page 1 of each role comes first; its
///   `pageCount` says which pages follow (read concurrently). Should a full page come without
///   `pageCount`, that role is read page by page until a short page.
/// - The reference does not say whether a user's entry includes grants inherited from a
///   group. Only subjects of type `PC_USER` (or without a type) are kept. If an inherited
///   grant does appear, a plan may try to remove it; `bulkremove` on the user leaves it, and
///   the next plan shows the same removal again (no harm, but not converging): see
///   `docs/architecture/reconcile.md`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleGrants {
    /// Role id → role name, for the roles that were read (the roles the plan manages).
    pub roles: BTreeMap<String, String>,
    /// User id → that user's grants of the roles read, sorted.
    pub by_user: HashMap<String, Vec<RoleDivisionPair>>,
    /// API calls the read took.
    pub read_calls: u64,
}

impl RoleGrants {
    /// Reads the holders of each role in `roles` (id → name): page 1 of every role, then all
    /// remaining pages, [`READ_CONCURRENCY`] requests at a time, in order.
    pub async fn read(client: &GenesysClient, roles: &BTreeMap<String, String>) -> Result<Self> {
        let before = client.stats().paced_requests;
        let firsts: Vec<_> = futures::stream::iter(roles.keys().cloned())
            .map(|rid| async move {
                let page = client.list_role_subject_grants_page(&rid, 1).await?;
                Ok::<_, gcprov_genesys::Error>((rid, page))
            })
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        let mut rest: Vec<(String, u32)> = Vec::new();
        let mut firsts_known = Vec::with_capacity(firsts.len());
        for (rid, page) in firsts {
            match page.page_count {
                Some(pc) => {
                    if pc > 1 && !page.entities.is_empty() {
                        let last = u32::try_from(pc).unwrap_or(u32::MAX);
                        rest.extend((2..=last).map(|p| (rid.clone(), p)));
                    }
                    firsts_known.push((rid, page));
                }
                None if page.entities.len() < SUBJECT_GRANTS_PAGE_SIZE as usize => {
                    firsts_known.push((rid, page));
                }
                None => {
                    // No pageCount on a full page: read this role as a stream instead (page 1
                    // again, then until a short page).
                    let entities = client
                        .list_role_subject_grants(&rid)
                        .try_collect::<Vec<_>>()
                        .await?;
                    let mut whole = page;
                    whole.entities = entities;
                    firsts_known.push((rid, whole));
                }
            }
        }
        let firsts = firsts_known;
        let more: Vec<_> = futures::stream::iter(rest)
            .map(|(rid, p)| async move {
                let page = client.list_role_subject_grants_page(&rid, p).await?;
                Ok::<_, gcprov_genesys::Error>((rid, page))
            })
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        let listings = firsts
            .into_iter()
            .chain(more)
            .map(|(rid, page)| (rid, page.entities));
        let mut by_user: HashMap<String, Vec<RoleDivisionPair>> = HashMap::new();
        for (rid, subjects) in listings {
            for s in subjects {
                let is_user = s
                    .subject_type
                    .as_deref()
                    .is_none_or(|t| t.eq_ignore_ascii_case("PC_USER"));
                let (Some(uid), true) = (s.id, is_user) else {
                    continue;
                };
                let entry = by_user.entry(uid).or_default();
                for d in s.divisions.unwrap_or_default() {
                    if let Some(did) = d.id {
                        entry.push(RoleDivisionPair {
                            role_id: rid.clone(),
                            division_id: did,
                        });
                    }
                }
            }
        }
        for g in by_user.values_mut() {
            g.sort();
            g.dedup();
        }
        Ok(RoleGrants {
            roles: roles.clone(),
            by_user,
            read_calls: client.stats().paced_requests.saturating_sub(before),
        })
    }

    /// The user's grants of the roles read (empty when the user holds none of them).
    pub fn of(&self, user_id: &str) -> &[RoleDivisionPair] {
        self.by_user.get(user_id).map(Vec::as_slice).unwrap_or(&[])
    }
}
