//! The actual state: one read of the org with the fewest calls (users at page size 500 with
//! groups, skills and languages expanded; groups, skill and language catalogues, divisions).

use std::collections::HashMap;

use futures::TryStreamExt;
use gcprov_genesys::models::{EntityState, User};
use gcprov_genesys::{GenesysClient, ListUsers};
use serde::{Deserialize, Serialize};

use crate::desired::Proficiency;
use crate::error::Result;

/// Largest page size `GET /api/v2/users` accepts (reference: Genesys' own Terraform exporter).
pub const USER_PAGE_SIZE: u32 = 500;

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
    /// Role names (from `expand=authorization`; divisions are not in that view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
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
            roles: u
                .authorization
                .as_ref()
                .and_then(|a| a.roles.as_ref())
                .map(|rs| rs.iter().filter_map(|r| r.name.clone()).collect()),
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
    /// languages and divisions.
    pub async fn read(client: &GenesysClient) -> Result<Org> {
        let before = client.stats().paced_requests;
        // The user pages and the catalogues are read concurrently (the pacer still spaces them).
        let users_fut = client
            .list_users(ListUsers {
                page_size: Some(USER_PAGE_SIZE),
                state: Some("any".into()),
                expand: vec![
                    "groups".into(),
                    "skills".into(),
                    "languages".into(),
                    "authorization".into(),
                ],
                ids: Vec::new(),
            })
            .try_filter_map(|u| async move { Ok(ActualUser::from_api(&u)) })
            .try_collect::<Vec<ActualUser>>();
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
