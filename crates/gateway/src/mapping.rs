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
//! Adding a member grants everything listed; removing a member revokes what no other mapped
//! group the user is still in owes (a skill or language owed by several rules is held at the
//! highest proficiency among them). Names are resolved against Genesys when first needed and
//! cached until the next full sync ([`Resolver`]). Removing a rule from this file leaves what
//! it granted in place (conservative: gcprov does not know whether an admin relies on it).
//! At full sync the (role, division) grants members hold are read per mapped role
//! ([`HeldGrants`]), so a role held in another division than the rule says is granted too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use gcprov_genesys::GenesysClient;
use gcprov_genesys::models::{
    RoleDivisionPair, ScimV2User, SubjectType, UserRoutingLanguagePost, UserRoutingSkillPost,
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

/// One role grant of a rule: the Genesys pair and the role's name (for audit entries).
#[derive(Debug, Clone, PartialEq)]
struct RoleItem {
    pair: RoleDivisionPair,
    name: String,
}

/// A skill or language of a rule: Genesys id, name (the synced SCIM user lists them by name)
/// and proficiency.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    id: String,
    name: String,
    proficiency: f64,
}

/// A rule with Genesys ids, or the union of several (what a user's mapped groups owe).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    roles: Vec<RoleItem>,
    skills: Vec<Item>,
    languages: Vec<Item>,
    queues: Vec<String>,
}

/// What a user holds, as the full sync read it from the Genesys SCIM user: whether active and
/// skill/language names with proficiency. Roles are not taken from here: the SCIM user lists
/// role names without divisions (see [`HeldGrants`]).
#[derive(Debug, Clone, Default)]
pub struct Held {
    pub active: bool,
    pub skills: BTreeMap<String, f64>,
    pub languages: BTreeMap<String, f64>,
}

impl Held {
    /// From the Genesys SCIM user (no extra call).
    pub fn from_scim(u: &ScimV2User) -> Self {
        let genesys = u.genesys.as_ref();
        Self {
            active: u.active.unwrap_or(true),
            skills: genesys
                .and_then(|g| g.routing_skills.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|s| Some((s.name.clone()?, s.proficiency.unwrap_or(0.0))))
                .collect(),
            languages: genesys
                .and_then(|g| g.routing_languages.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|s| Some((s.name.clone()?, s.proficiency.unwrap_or(0.0))))
                .collect(),
        }
    }
}

fn same_level(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-3
}

/// Adds `x` to `into`, keeping the higher proficiency when both have it.
fn merge_item(into: &mut Vec<Item>, x: &Item) {
    match into.iter_mut().find(|i| i.id == x.id) {
        Some(i) if x.proficiency > i.proficiency => i.proficiency = x.proficiency,
        Some(_) => {}
        None => into.push(x.clone()),
    }
}

impl Resolved {
    /// The union of several rules (a user in several mapped groups). A skill or language
    /// granted by more than one rule is owed at the highest proficiency among them.
    pub fn union<'a>(parts: impl IntoIterator<Item = &'a Resolved>) -> Resolved {
        let mut out = Resolved::default();
        for p in parts {
            for r in &p.roles {
                if !out.roles.iter().any(|x| x.pair == r.pair) {
                    out.roles.push(r.clone());
                }
            }
            for s in &p.skills {
                merge_item(&mut out.skills, s);
            }
            for l in &p.languages {
                merge_item(&mut out.languages, l);
            }
            for q in &p.queues {
                if !out.queues.contains(q) {
                    out.queues.push(q.clone());
                }
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.roles.is_empty()
            && self.skills.is_empty()
            && self.languages.is_empty()
            && self.queues.is_empty()
    }

    /// This rule's items at the proficiency `owed` (the union of all the user's rules) gives
    /// them: what to grant when the user joins this rule's group.
    pub fn at_owed_level(&self, owed: &Resolved) -> Resolved {
        let level = |list: &[Item], x: &Item| {
            list.iter()
                .find(|o| o.id == x.id)
                .map_or(x.proficiency, |o| o.proficiency.max(x.proficiency))
        };
        let mut out = self.clone();
        for s in &mut out.skills {
            s.proficiency = level(&owed.skills, s);
        }
        for l in &mut out.languages {
            l.proficiency = level(&owed.languages, l);
        }
        out
    }

    /// When a user leaves this rule's group while `rest` (the union of the rules of the
    /// mapped groups the user is still in) applies: what to revoke (only what no remaining
    /// rule owes) and what to re-grant (shared skills/languages whose owed proficiency
    /// changes to the remaining rules' level).
    pub fn leave(&self, rest: &Resolved) -> (Resolved, Resolved) {
        let mut revoke = Resolved::default();
        let mut regrant = Resolved::default();
        for r in &self.roles {
            if !rest.roles.iter().any(|x| x.pair == r.pair) {
                revoke.roles.push(r.clone());
            }
        }
        for (mine, theirs, rv, rg) in [
            (
                &self.skills,
                &rest.skills,
                &mut revoke.skills,
                &mut regrant.skills,
            ),
            (
                &self.languages,
                &rest.languages,
                &mut revoke.languages,
                &mut regrant.languages,
            ),
        ] {
            for s in mine {
                match theirs.iter().find(|x| x.id == s.id) {
                    None => rv.push(s.clone()),
                    Some(o) if !same_level(o.proficiency, s.proficiency) => rg.push(o.clone()),
                    Some(_) => {}
                }
            }
        }
        for q in &self.queues {
            if !rest.queues.contains(q) {
                revoke.queues.push(q.clone());
            }
        }
        (revoke, regrant)
    }

    /// What of this (owed) set the user does not hold: (role, division) pairs `holds` says the
    /// user lacks (a role held in another division is lacking), skills/languages missing or at
    /// another proficiency, queues `in_queue` says the user is not a member of.
    pub fn missing(
        &self,
        held: &Held,
        holds: impl Fn(&RoleDivisionPair) -> bool,
        in_queue: impl Fn(&str) -> bool,
    ) -> Resolved {
        let lacks = |m: &BTreeMap<String, f64>, x: &Item| {
            m.get(&x.name)
                .is_none_or(|p| !same_level(*p, x.proficiency))
        };
        Resolved {
            roles: self
                .roles
                .iter()
                .filter(|r| !holds(&r.pair))
                .cloned()
                .collect(),
            skills: self
                .skills
                .iter()
                .filter(|s| lacks(&held.skills, s))
                .cloned()
                .collect(),
            languages: self
                .languages
                .iter()
                .filter(|s| lacks(&held.languages, s))
                .cloned()
                .collect(),
            queues: self
                .queues
                .iter()
                .filter(|q| !in_queue(q))
                .cloned()
                .collect(),
        }
    }

    /// Whether applying this changes the Genesys user itself (roles, skills, languages: the
    /// SCIM user shows them, so the read model must be refreshed) and not only queues.
    pub fn touches_user(&self) -> bool {
        !(self.roles.is_empty() && self.skills.is_empty() && self.languages.is_empty())
    }

    /// Only the queues (a deactivated user keeps roles, skills and languages).
    pub fn queues_only(&self) -> Resolved {
        Resolved {
            queues: self.queues.clone(),
            ..Default::default()
        }
    }

    /// Everything but the queues (what a deactivated user is still granted).
    pub fn without_queues(&self) -> Resolved {
        Resolved {
            queues: Vec::new(),
            ..self.clone()
        }
    }

    /// Queue ids of this set.
    pub fn queue_ids(&self) -> &[String] {
        &self.queues
    }

    /// Role ids of this set (a role owed in several divisions once).
    pub fn role_ids(&self) -> BTreeSet<String> {
        self.roles.iter().map(|r| r.pair.role_id.clone()).collect()
    }

    /// A short description for audit entries (names, no secrets).
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "roles": self.roles.iter().map(|r| format!("{}@{}", r.name, r.pair.division_id)).collect::<Vec<_>>(),
            "skills": self.skills.iter().map(|s| serde_json::json!({"name": s.name, "proficiency": s.proficiency})).collect::<Vec<_>>(),
            "languages": self.languages.iter().map(|s| serde_json::json!({"name": s.name, "proficiency": s.proficiency})).collect::<Vec<_>>(),
            "queues": self.queues,
        })
    }
}

/// The grants of some roles that some users hold, each as a (role, division) pair: what the
/// full sync compares the mapping's role grants with.
///
/// Read with one paged `GET /api/v2/authorization/roles/{roleId}/subjectgrants` listing per
/// role (`ceil(holders / 100)` calls each), not one call per user: the SCIM user the sync
/// already read lists role names without divisions. Only subjects of type `PC_USER` (or
/// without a type) are kept; a grant a user inherits from a Genesys group is not counted
/// (the reference does not say whether the listing folds it into the user's entry), so such
/// a user gets the direct grant (additive, never removed at sync).
#[derive(Debug, Clone, Default)]
pub struct HeldGrants {
    by_user: HashMap<String, BTreeSet<RoleDivisionPair>>,
}

impl HeldGrants {
    /// Reads the holders of each role in `role_ids`, keeping the users `keep` accepts (the
    /// members of mapped groups), so memory follows them and not the roles' holders.
    pub async fn read(
        g: &GenesysClient,
        role_ids: &BTreeSet<String>,
        keep: impl Fn(&str) -> bool,
    ) -> gcprov_genesys::Result<Self> {
        let mut by_user: HashMap<String, BTreeSet<RoleDivisionPair>> = HashMap::new();
        for rid in role_ids {
            let mut s = g.list_role_subject_grants(rid);
            while let Some(subject) = s.next().await {
                let subject = subject?;
                let is_user = subject
                    .subject_type
                    .as_deref()
                    .is_none_or(|t| t.eq_ignore_ascii_case("PC_USER"));
                let Some(uid) = subject.id.filter(|u| is_user && keep(u)) else {
                    continue;
                };
                let pairs = by_user.entry(uid).or_default();
                for d in subject.divisions.into_iter().flatten() {
                    if let Some(division_id) = d.id {
                        pairs.insert(RoleDivisionPair {
                            role_id: rid.clone(),
                            division_id,
                        });
                    }
                }
            }
        }
        Ok(Self { by_user })
    }

    /// Whether `user` holds the role in the pair's division (as read).
    pub fn holds(&self, user: &str, pair: &RoleDivisionPair) -> bool {
        self.by_user.get(user).is_some_and(|p| p.contains(pair))
    }
}

/// Resolved rules, cached by IdP group name until [`Resolver::clear`] (every full sync), so
/// membership changes do not re-read the catalogues each time.
#[derive(Debug, Default)]
pub struct Resolver {
    cache: tokio::sync::Mutex<HashMap<String, Arc<Resolved>>>,
}

impl Resolver {
    /// The resolved rule (a few Genesys reads the first time after a clear).
    pub async fn get(
        &self,
        mapping: &Mapping,
        g: &GenesysClient,
        rule: &GroupRule,
    ) -> Result<Arc<Resolved>, String> {
        let key = rule.idp_group.to_lowercase();
        if let Some(r) = self.cache.lock().await.get(&key) {
            return Ok(r.clone());
        }
        let r = Arc::new(mapping.resolve(g, rule).await?);
        self.cache.lock().await.insert(key, r.clone());
        Ok(r)
    }

    /// Forgets every resolved rule (names may have been renamed in Genesys).
    pub async fn clear(&self) {
        self.cache.lock().await.clear();
    }
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
                out.roles.push(RoleItem {
                    pair: RoleDivisionPair {
                        role_id,
                        division_id,
                    },
                    name: r.role.clone(),
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
            out.skills.push(Item {
                id: k,
                name: s.name.clone(),
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
            out.languages.push(Item {
                id: k,
                name: l.name.clone(),
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
    fn pairs(&self) -> Vec<RoleDivisionPair> {
        self.roles.iter().map(|r| r.pair.clone()).collect()
    }

    /// Grants everything to a user (each call is idempotent).
    pub async fn grant(&self, g: &GenesysClient, user: &str) -> gcprov_genesys::Result<()> {
        if !self.roles.is_empty() {
            g.add_grants(user, SubjectType::User, &self.pairs()).await?;
        }
        if !self.skills.is_empty() {
            let v: Vec<UserRoutingSkillPost> = self
                .skills
                .iter()
                .map(|s| UserRoutingSkillPost {
                    id: s.id.clone(),
                    proficiency: s.proficiency,
                })
                .collect();
            g.add_user_skills(user, &v).await?;
        }
        if !self.languages.is_empty() {
            let v: Vec<UserRoutingLanguagePost> = self
                .languages
                .iter()
                .map(|s| UserRoutingLanguagePost {
                    id: s.id.clone(),
                    proficiency: s.proficiency,
                })
                .collect();
            g.add_user_languages(user, &v).await?;
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
        if !self.roles.is_empty() {
            ok404(g.remove_grants(user, &self.pairs()).await)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, p: f64) -> Item {
        Item {
            id: id.into(),
            name: id.to_uppercase(),
            proficiency: p,
        }
    }

    fn role(r: &str, d: &str) -> RoleItem {
        RoleItem {
            pair: RoleDivisionPair {
                role_id: r.into(),
                division_id: d.into(),
            },
            name: r.to_uppercase(),
        }
    }

    #[test]
    fn leaving_one_group_keeps_what_the_others_owe() {
        let a = Resolved {
            roles: vec![role("agent", "sales"), role("agent", "home")],
            skills: vec![item("sales", 4.0)],
            languages: vec![item("en", 5.0)],
            queues: vec!["q1".into()],
        };
        let b = Resolved {
            roles: vec![role("agent", "sales")],
            skills: vec![item("sales", 2.0), item("tech", 3.0)],
            languages: Vec::new(),
            queues: vec!["q1".into(), "q2".into()],
        };
        let both = Resolved::union([&a, &b]);
        assert_eq!(both.skills, vec![item("sales", 4.0), item("tech", 3.0)]);
        assert_eq!(
            both.roles.len(),
            2,
            "the same role in another division is another grant"
        );
        assert_eq!(b.at_owed_level(&both).skills[0], item("sales", 4.0));

        let (revoke, regrant) = a.leave(&b);
        assert_eq!(revoke.roles, vec![role("agent", "home")]);
        assert!(revoke.skills.is_empty() && revoke.queues.is_empty());
        assert_eq!(revoke.languages, vec![item("en", 5.0)]);
        assert_eq!(
            regrant.skills,
            vec![item("sales", 2.0)],
            "down to b's level"
        );
        assert!(regrant.touches_user() && regrant.queues.is_empty());

        let (revoke, regrant) = a.leave(&Resolved::default());
        assert_eq!(revoke, a);
        assert!(regrant.is_empty());
    }

    #[test]
    fn missing_compares_pairs_levels_and_queues() {
        let owed = Resolved {
            roles: vec![role("agent", "sales")],
            skills: vec![item("sales", 4.0)],
            languages: vec![item("en", 5.0)],
            queues: vec!["q1".into()],
        };
        let mut held = Held {
            active: true,
            skills: [("SALES".to_string(), 4.0)].into(),
            languages: [("EN".to_string(), 5.0)].into(),
        };
        let pairs: BTreeSet<RoleDivisionPair> = [role("agent", "sales").pair].into();
        assert!(
            owed.missing(&held, |p| pairs.contains(p), |_| true)
                .is_empty()
        );
        assert_eq!(owed.role_ids(), ["agent".to_string()].into());

        // The role held in another division only: the owed pair is missing.
        let elsewhere: BTreeSet<RoleDivisionPair> = [role("agent", "home").pair].into();
        let m = owed.missing(&held, |p| elsewhere.contains(p), |_| true);
        assert_eq!(m.roles, vec![role("agent", "sales")]);
        assert!(m.skills.is_empty() && m.languages.is_empty() && m.queues.is_empty());

        held.skills.insert("SALES".into(), 5.0);
        let m = owed.missing(&held, |p| pairs.contains(p), |_| false);
        assert_eq!(
            m.skills,
            vec![item("sales", 4.0)],
            "another level is not in line"
        );
        assert!(m.roles.is_empty());
        assert_eq!(m.queues, vec!["q1".to_string()]);
        assert!(m.languages.is_empty());
    }
}
