//! Least privilege: a client's scopes or role permissions against a baseline profile.

use serde::Serialize;

use crate::config::Profile;

/// One least-privilege finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// A read-write scope where the baseline allows only its `:readonly` form.
    WriteScopeWhereReadOnly { scope: String, allowed: String },
    /// A scope the baseline does not allow at all.
    ScopeBeyondBaseline { scope: String },
    /// Both `x` and `x:readonly`: the read-only one adds nothing (warning, does not block).
    RedundantScopePair { scope: String, readonly: String },
    /// A permission of a granted role that no baseline pattern covers.
    PermissionBeyondBaseline {
        role: String,
        role_id: String,
        permission: String,
    },
    /// A granted role gcprov cannot expand (it no longer exists): cannot verify.
    UnknownRole { role_id: String },
    /// The role catalogue returned the role without its permissions: cannot verify.
    PermissionsUnavailable { role: String, role_id: String },
    /// Audit: the client has no gcprov profile marker and no default profile is configured.
    NoBaseline,
    /// Audit: the client's marker names a profile the configuration does not have.
    UnknownProfile { profile: String },
    /// Audit: the token lifetime exceeds the configured limit (SCIM clients have their own).
    LifetimeBeyondLimit { seconds: i64, max: i64 },
}

impl Finding {
    /// Whether the finding blocks creation (without `--allow-excess`).
    pub fn is_violation(&self) -> bool {
        !matches!(self, Finding::RedundantScopePair { .. })
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::WriteScopeWhereReadOnly { scope, allowed } => write!(
                f,
                "scope `{scope}` allows writing; the baseline allows only `{allowed}`"
            ),
            Finding::ScopeBeyondBaseline { scope } => {
                write!(f, "scope `{scope}` is not in the baseline")
            }
            Finding::RedundantScopePair { scope, readonly } => write!(
                f,
                "scopes `{scope}` and `{readonly}` are redundant: `{scope}` already includes reading"
            ),
            Finding::PermissionBeyondBaseline {
                role, permission, ..
            } => write!(
                f,
                "role `{role}` grants permission `{permission}`, beyond the baseline"
            ),
            Finding::UnknownRole { role_id } => {
                write!(
                    f,
                    "role {role_id} does not exist; cannot verify its permissions"
                )
            }
            Finding::PermissionsUnavailable { role, role_id } => write!(
                f,
                "role `{role}` ({role_id}) came without its permissions; cannot verify"
            ),
            Finding::NoBaseline => write!(
                f,
                "no baseline profile (no gcprov marker, no audit.default_profile): least privilege not verified"
            ),
            Finding::UnknownProfile { profile } => {
                write!(
                    f,
                    "baseline profile {profile:?} is not in the configuration"
                )
            }
            Finding::LifetimeBeyondLimit { seconds, max } => {
                write!(f, "token lifetime {seconds} s exceeds the limit of {max} s")
            }
        }
    }
}

/// Checks scopes of a user-delegated client.
pub fn check_scopes(scopes: &[String], baseline: &Profile) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in scopes {
        if baseline.scopes.iter().any(|b| b == s || b == "*") {
            continue;
        }
        // `x` in the baseline allows `x:readonly` too.
        if let Some(base) = s.strip_suffix(":readonly")
            && baseline.scopes.iter().any(|b| b == base)
        {
            continue;
        }
        let readonly = format!("{s}:readonly");
        if !s.ends_with(":readonly") && baseline.scopes.contains(&readonly) {
            out.push(Finding::WriteScopeWhereReadOnly {
                scope: s.clone(),
                allowed: readonly,
            });
        } else {
            out.push(Finding::ScopeBeyondBaseline { scope: s.clone() });
        }
    }
    for s in scopes {
        let readonly = format!("{s}:readonly");
        if !s.ends_with(":readonly") && scopes.contains(&readonly) {
            out.push(Finding::RedundantScopePair {
                scope: s.clone(),
                readonly,
            });
        }
    }
    out
}

/// A role expanded to its permissions.
#[derive(Debug, Clone)]
pub struct ExpandedRole {
    pub id: String,
    pub name: String,
    pub permissions: Vec<String>,
}

/// Checks the permissions of a client-credentials client's roles.
pub fn check_roles(roles: &[ExpandedRole], baseline: &Profile) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in roles {
        for p in &r.permissions {
            if !baseline
                .permissions
                .iter()
                .any(|pat| permission_covered(pat, p))
            {
                let f = Finding::PermissionBeyondBaseline {
                    role: r.name.clone(),
                    role_id: r.id.clone(),
                    permission: p.clone(),
                };
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
    }
    out
}

/// Whether a baseline pattern covers a permission. Both are `domain:entity:action` strings;
/// in the pattern `*` matches any one segment, and a `*` as the last pattern segment matches
/// all remaining segments. A wildcard in the permission (a role holding `directory:*:*`) is
/// covered only by a wildcard in the pattern. The action segment of a permission may list
/// several actions (`view,edit`): each must be covered.
pub fn permission_covered(pattern: &str, permission: &str) -> bool {
    let pat: Vec<&str> = pattern.split(':').collect();
    let perm: Vec<&str> = permission.split(':').collect();
    if let Some((last, head)) = perm.split_last()
        && last.contains(',')
    {
        return last.split(',').all(|a| {
            let mut p: Vec<&str> = head.to_vec();
            p.push(a.trim());
            segments_covered(&pat, &p)
        });
    }
    segments_covered(&pat, &perm)
}

fn segments_covered(pat: &[&str], perm: &[&str]) -> bool {
    for (i, seg) in pat.iter().enumerate() {
        let last = i + 1 == pat.len();
        match perm.get(i) {
            None => return false,
            Some(p) => {
                if *seg == "*" {
                    if last {
                        return true;
                    }
                } else if seg != p {
                    return false;
                }
            }
        }
    }
    pat.len() == perm.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(scopes: &[&str], perms: &[&str]) -> Profile {
        Profile {
            description: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            permissions: perms.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn wildcards() {
        assert!(permission_covered(
            "analytics:*:view",
            "analytics:conversationDetail:view"
        ));
        assert!(!permission_covered(
            "analytics:*:view",
            "analytics:conversationDetail:edit"
        ));
        assert!(permission_covered("analytics:*", "analytics:a:b"));
        assert!(!permission_covered("analytics:*:view", "*"));
        assert!(!permission_covered("analytics:*:view", "analytics:*:*"));
        assert!(permission_covered("*", "directory:user:add"));
        assert!(permission_covered(
            "routing:queue:*",
            "routing:queue:view,edit"
        ));
        assert!(!permission_covered(
            "routing:queue:view",
            "routing:queue:view,edit"
        ));
        assert!(!permission_covered("a:b:c", "a:b"));
    }

    #[test]
    fn scopes() {
        let b = profile(&["analytics:readonly", "users"], &[]);
        let f = check_scopes(
            &[
                "analytics".into(),
                "users".into(),
                "users:readonly".into(),
                "routing".into(),
            ],
            &b,
        );
        assert!(f.contains(&Finding::WriteScopeWhereReadOnly {
            scope: "analytics".into(),
            allowed: "analytics:readonly".into()
        }));
        assert!(!f.contains(&Finding::ScopeBeyondBaseline {
            scope: "users:readonly".into()
        }));
        assert!(f.contains(&Finding::ScopeBeyondBaseline {
            scope: "routing".into()
        }));
        assert!(f.contains(&Finding::RedundantScopePair {
            scope: "users".into(),
            readonly: "users:readonly".into()
        }));
    }
}
