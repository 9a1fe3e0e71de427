//! What may reach an audit detail: no secrets ever, personal data only in configured fields.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::error::StoreError;

/// Field-name fragments that mark a secret. Any detail key containing one (case-insensitively)
/// is refused outright rather than redacted, so a caller bug is loud.
const SECRET_MARKERS: &[&str] = &[
    "secret",
    "password",
    "passwd",
    "token",
    "authorization",
    "apikey",
    "api_key",
    "private_key",
    "privatekey",
    "credential",
    "cookie",
];

/// Refuses a detail holding a key that looks like a secret. The error names the JSON path of
/// the key, never its value.
pub fn check_no_secrets(detail: &Value) -> Result<(), StoreError> {
    fn walk(v: &Value, path: &mut String) -> Result<(), StoreError> {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let lk = k.to_ascii_lowercase();
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    if SECRET_MARKERS.iter().any(|m| lk.contains(m)) {
                        return Err(StoreError::SecretInDetail { path: path.clone() });
                    }
                    walk(child, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(child, path)?;
                    path.truncate(len);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(detail, &mut String::new())
}

/// The redaction hook applied to every audit detail before it is hashed and stored.
/// Implement it to plug in an organisation's own personal-data rules.
pub trait Redact: Send + Sync {
    fn redact(&self, detail: &mut Value);
}

/// The default hook: values under keys that carry personal data are replaced by `"[redacted]"`,
/// except for the keys the deployment configured to keep.
#[derive(Debug, Clone)]
pub struct FieldRedactor {
    /// Lower-case key names that carry personal data.
    pub personal: BTreeSet<String>,
    /// Lower-case key names the deployment chose to keep (a subset of `personal`).
    pub keep: BTreeSet<String>,
}

/// Keys treated as personal data by default (SCIM and Genesys attribute names).
pub const DEFAULT_PERSONAL_FIELDS: &[&str] = &[
    "name",
    "givenname",
    "familyname",
    "middlename",
    "formatted",
    "displayname",
    "nickname",
    "username",
    "email",
    "emails",
    "phonenumbers",
    "phone",
    "addresses",
    "address",
    "birthdate",
    "photos",
    "title",
    "manager",
    "employeenumber",
];

impl Default for FieldRedactor {
    fn default() -> Self {
        FieldRedactor {
            personal: DEFAULT_PERSONAL_FIELDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            keep: BTreeSet::new(),
        }
    }
}

impl FieldRedactor {
    /// Keep these personal-data fields (case-insensitive), redact the other personal ones.
    pub fn keeping<I, S>(keep: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        FieldRedactor {
            keep: keep
                .into_iter()
                .map(|s| s.as_ref().to_ascii_lowercase())
                .collect(),
            ..Self::default()
        }
    }
}

impl Redact for FieldRedactor {
    fn redact(&self, detail: &mut Value) {
        match detail {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    let lk = k.to_ascii_lowercase();
                    if self.personal.contains(&lk) && !self.keep.contains(&lk) {
                        if !v.is_null() {
                            *v = Value::String("[redacted]".into());
                        }
                    } else {
                        self.redact(v);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact(v)),
            _ => {}
        }
    }
}
