//! The mapping file: IdP group membership -> Genesys roles (with divisions), routing skills
//! with proficiency, languages and queues ("group drives routing").
//!
//! ```toml
//! [[group]]
//! idp_group = "Sales Agents"          # the IdP group's displayName (case-insensitive)
//! roles = [{ role = "Agent", division = "Home" }]   # division optional: the home division
//! skills = [{ name = "Sales", proficiency = 3.0 }]
//! languages = [{ name = "English", proficiency = 5.0 }]
//! queues = ["Sales"]
//! ```
//!
//! Adding a member grants everything listed; removing a member revokes it. Names are resolved
//! against Genesys when first needed.

use std::path::Path;

use futures::StreamExt;
use gcprov_genesys::GenesysClient;
use gcprov_genesys::models::{
    RoleDivisionPair, SubjectType, UserRoutingLanguagePost, UserRoutingSkillPost,
};
use serde::Deserialize;

/// A mapping file problem, naming file and line.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("{file}: {message}")]
    Io { file: String, message: String },
    #[error("{file}:{line}: {message}")]
    Parse {
        file: String,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(default, rename = "group")]
    pub groups: Vec<GroupRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRule {
    pub idp_group: String,
    #[serde(default)]
    pub roles: Vec<RoleGrant>,
    #[serde(default)]
    pub skills: Vec<Proficiency>,
    #[serde(default)]
    pub languages: Vec<Proficiency>,
    #[serde(default)]
    pub queues: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleGrant {
    pub role: String,
    pub division: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proficiency {
    pub name: String,
    #[serde(default = "five")]
    pub proficiency: f64,
}

fn five() -> f64 {
    5.0
}

/// A rule with Genesys ids.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    grants: Vec<RoleDivisionPair>,
    skills: Vec<UserRoutingSkillPost>,
    languages: Vec<UserRoutingLanguagePost>,
    queues: Vec<String>,
}

impl Mapping {
    pub fn load(path: &Path) -> Result<Self, MappingError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| MappingError::Io {
            file: file.clone(),
            message: e.to_string(),
        })?;
        Self::from_toml(&text, &file)
    }

    pub fn from_toml(text: &str, file: &str) -> Result<Self, MappingError> {
        let m: Mapping = toml::from_str(text).map_err(|e| MappingError::Parse {
            file: file.into(),
            line: e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(1),
            message: e.message().to_string(),
        })?;
        for g in &m.groups {
            for p in g.skills.iter().chain(g.languages.iter()) {
                if !(0.0..=5.0).contains(&p.proficiency) {
                    return Err(MappingError::Parse {
                        file: file.into(),
                        line: text
                            .find(&p.name)
                            .map(|o| text[..o].matches('\n').count() + 1)
                            .unwrap_or(1),
                        message: format!("proficiency of '{}' must be between 0 and 5", p.name),
                    });
                }
            }
        }
        Ok(m)
    }

    pub fn rule_for(&self, idp_group: &str) -> Option<&GroupRule> {
        self.groups
            .iter()
            .find(|g| g.idp_group.eq_ignore_ascii_case(idp_group))
    }

    /// Resolves names to ids (a few Genesys reads).
    pub async fn resolve(&self, g: &GenesysClient, rule: &GroupRule) -> Result<Resolved, String> {
        let mut out = Resolved::default();
        if !rule.roles.is_empty() {
            let mut divisions = Vec::new();
            let mut s = g.list_divisions();
            while let Some(d) = s.next().await {
                divisions.push(d.map_err(|e| e.to_string())?);
            }
            let home = divisions
                .iter()
                .find(|d| d.home_division == Some(true))
                .and_then(|d| d.id.clone());
            for r in &rule.roles {
                let mut roles = g.list_roles(Some(&r.role));
                let mut role_id = None;
                while let Some(x) = roles.next().await {
                    let x = x.map_err(|e| e.to_string())?;
                    if x.name.as_deref() == Some(r.role.as_str()) {
                        role_id = x.id;
                        break;
                    }
                }
                let role_id = role_id.ok_or_else(|| format!("no role named '{}'", r.role))?;
                let division_id = match &r.division {
                    Some(n) => divisions
                        .iter()
                        .find(|d| d.name.as_deref() == Some(n.as_str()))
                        .and_then(|d| d.id.clone())
                        .ok_or_else(|| format!("no division named '{n}'"))?,
                    None => home.clone().ok_or("no home division")?,
                };
                out.grants.push(RoleDivisionPair {
                    role_id,
                    division_id,
                });
            }
        }
        for s in &rule.skills {
            let k = g
                .find_skill_by_name(&s.name)
                .await
                .map_err(|e| e.to_string())?
                .and_then(|k| k.id)
                .ok_or_else(|| format!("no routing skill named '{}'", s.name))?;
            out.skills.push(UserRoutingSkillPost {
                id: k,
                proficiency: s.proficiency,
            });
        }
        for l in &rule.languages {
            let k = g
                .find_language_by_name(&l.name)
                .await
                .map_err(|e| e.to_string())?
                .and_then(|k| k.id)
                .ok_or_else(|| format!("no routing language named '{}'", l.name))?;
            out.languages.push(UserRoutingLanguagePost {
                id: k,
                proficiency: l.proficiency,
            });
        }
        for q in &rule.queues {
            let mut s = g.list_queues(Some(q));
            let mut id = None;
            while let Some(x) = s.next().await {
                let x = x.map_err(|e| e.to_string())?;
                if x.name.as_deref() == Some(q.as_str()) {
                    id = x.id;
                    break;
                }
            }
            out.queues
                .push(id.ok_or_else(|| format!("no queue named '{q}'"))?);
        }
        Ok(out)
    }
}

impl Resolved {
    /// Grants everything to a user (each call is idempotent).
    pub async fn grant(&self, g: &GenesysClient, user: &str) -> gcprov_genesys::Result<()> {
        if !self.grants.is_empty() {
            g.add_grants(user, SubjectType::User, &self.grants).await?;
        }
        if !self.skills.is_empty() {
            g.add_user_skills(user, &self.skills).await?;
        }
        if !self.languages.is_empty() {
            g.add_user_languages(user, &self.languages).await?;
        }
        for q in &self.queues {
            g.add_queue_members(q, &[user]).await?;
        }
        Ok(())
    }

    /// Revokes everything from a user (missing items are not an error).
    pub async fn revoke(&self, g: &GenesysClient, user: &str) -> gcprov_genesys::Result<()> {
        let ok404 = |r: gcprov_genesys::Result<()>| match r {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        };
        if !self.grants.is_empty() {
            ok404(g.remove_grants(user, &self.grants).await)?;
        }
        for s in &self.skills {
            ok404(g.remove_user_skill(user, &s.id).await)?;
        }
        for l in &self.languages {
            ok404(g.remove_user_language(user, &l.id).await)?;
        }
        for q in &self.queues {
            ok404(g.remove_queue_members(q, &[user]).await)?;
        }
        Ok(())
    }
}
