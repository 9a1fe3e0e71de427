//! Desired state: the users Genesys Cloud should hold, read as a stream.
//!
//! Sources: CSV (default headers or a column mapping), SCIM JSON (a `ListResponse`, an array or
//! one resource), NDJSON (one SCIM user a line) and another SCIM server (paged pull with a
//! bearer token). Every reader yields one [`DesiredUser`] at a time, so a million-row file never
//! sits in memory; the planner keeps only the index it needs.
//!
//! An attribute is managed only where the source carries it: a column absent from the CSV (or a
//! key absent from a SCIM record) leaves that attribute of every matched user alone, and so do
//! empty cells: the reconciler never clears an attribute because a cell is empty (the
//! conservative reading of an HR export). A `groups`, `skills`, `languages` or `roles` cell that
//! is non-empty (a SCIM array, even `[]`) is authoritative for that user. The rule per attribute
//! is in `docs/architecture/reconcile.md` (*Which attributes are managed*).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// A routing skill or language with its proficiency (0.0 to 5.0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proficiency {
    pub name: String,
    pub proficiency: f64,
}

/// One desired user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredUser {
    /// 1-based line (CSV, NDJSON) or element number (JSON) in the source.
    pub line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The Genesys login (Genesys uses the email as username).
    pub user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Division name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<String>,
    /// `None` (no `active` column, an empty cell, no SCIM `active`) = the state of an existing
    /// user is not managed; a new user is created active, a deleted one restored active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Group names; `None` = memberships not managed for this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<Proficiency>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<Proficiency>>,
    /// Roles as `Role` or `Role@Division` (home division when none is named); `None` (an empty
    /// cell, no `roles` in SCIM) = this user's roles are not managed. For the roles any accepted
    /// record names, the user ends up holding exactly the listed grants; roles nobody names are
    /// never touched (see `docs/architecture/reconcile.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

impl DesiredUser {
    /// The email Genesys should hold (`email`, else `userName`).
    pub fn effective_email(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.user_name)
    }

    /// The name the record manages: `displayName`, else `givenName familyName` (whichever of the
    /// two is given); `None` when the record carries none of them, so the name of an existing
    /// user is left alone.
    pub fn managed_name(&self) -> Option<String> {
        if let Some(d) = &self.display_name {
            return Some(d.clone());
        }
        let parts: Vec<&str> = [self.given_name.as_deref(), self.family_name.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// The name a new user gets: [`DesiredUser::managed_name`], else the `userName` (a create
    /// needs a name; an existing user is never renamed to its userName).
    pub fn effective_name(&self) -> String {
        self.managed_name()
            .unwrap_or_else(|| self.user_name.clone())
    }

    /// The SCIM User the policy engine judges.
    pub fn to_scim(&self) -> Value {
        let mut v = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": self.user_name,
            "emails": [{"value": self.effective_email(), "type": "work", "primary": true}],
        });
        let m = match v.as_object_mut() {
            Some(m) => m,
            None => return v,
        };
        if let Some(a) = self.active {
            m.insert("active".into(), a.into());
        }
        if let Some(x) = &self.external_id {
            m.insert("externalId".into(), x.clone().into());
        }
        m.insert("displayName".into(), self.effective_name().into());
        let mut name = serde_json::Map::new();
        if let Some(g) = &self.given_name {
            name.insert("givenName".into(), g.clone().into());
        }
        if let Some(f) = &self.family_name {
            name.insert("familyName".into(), f.clone().into());
        }
        if !name.is_empty() {
            m.insert("name".into(), Value::Object(name));
        }
        if let Some(t) = &self.title {
            m.insert("title".into(), t.clone().into());
        }
        let mut ent = serde_json::Map::new();
        if let Some(d) = &self.department {
            ent.insert("department".into(), d.clone().into());
        }
        if let Some(d) = &self.division {
            ent.insert("division".into(), d.clone().into());
        }
        if !ent.is_empty() {
            m.insert(ENTERPRISE.into(), Value::Object(ent));
        }
        if let Some(gs) = &self.groups {
            m.insert(
                "groups".into(),
                Value::Array(
                    gs.iter()
                        .map(|g| serde_json::json!({"display": g}))
                        .collect(),
                ),
            );
        }
        let mut genx = serde_json::Map::new();
        if let Some(s) = &self.skills {
            genx.insert(
                "routingSkills".into(),
                serde_json::to_value(s).unwrap_or(Value::Null),
            );
        }
        if let Some(s) = &self.languages {
            genx.insert(
                "routingLanguages".into(),
                serde_json::to_value(s).unwrap_or(Value::Null),
            );
        }
        if !genx.is_empty() {
            m.insert(GENESYS_EXT.into(), Value::Object(genx));
        }
        v
    }
}

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GENESYS_EXT: &str = "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User";

/// A desired-state field and its default CSV header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    ExternalId,
    UserName,
    DisplayName,
    GivenName,
    FamilyName,
    Email,
    Title,
    Department,
    Division,
    Active,
    Groups,
    Skills,
    Languages,
    Roles,
}

impl Field {
    pub const ALL: [Field; 14] = [
        Field::ExternalId,
        Field::UserName,
        Field::DisplayName,
        Field::GivenName,
        Field::FamilyName,
        Field::Email,
        Field::Title,
        Field::Department,
        Field::Division,
        Field::Active,
        Field::Groups,
        Field::Skills,
        Field::Languages,
        Field::Roles,
    ];

    /// The default CSV header (also the key in a column mapping).
    pub fn header(self) -> &'static str {
        match self {
            Field::ExternalId => "externalId",
            Field::UserName => "userName",
            Field::DisplayName => "displayName",
            Field::GivenName => "givenName",
            Field::FamilyName => "familyName",
            Field::Email => "email",
            Field::Title => "title",
            Field::Department => "department",
            Field::Division => "division",
            Field::Active => "active",
            Field::Groups => "groups",
            Field::Skills => "skills",
            Field::Languages => "languages",
            Field::Roles => "roles",
        }
    }

    pub fn from_header(s: &str) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|f| f.header().eq_ignore_ascii_case(s))
    }
}

/// How attributes are matched (see [`crate::plan::MatchKey`]) and which CSV header holds which
/// field. Loaded from the `[reconcile]` table of a TOML config file (or the top level).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnMapping {
    /// Field → header. Unmapped fields use their default header.
    pub columns: BTreeMap<Field, String>,
    /// Separator of list cells (`groups`, `skills`, `languages`); default `;`.
    pub separator: Option<char>,
}

impl ColumnMapping {
    fn header_of(&self, f: Field) -> &str {
        self.columns
            .get(&f)
            .map(String::as_str)
            .unwrap_or(f.header())
    }
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Ndjson,
}

impl Format {
    /// From a file name: `.csv`, `.json`, `.ndjson` / `.jsonl`.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            _ => None,
        }
    }
}

/// A streaming reader of desired users.
pub struct DesiredReader {
    inner: Inner,
}

enum Inner {
    Csv(CsvSource),
    Ndjson(NdjsonSource),
    Json(JsonSource),
}

impl DesiredReader {
    /// Opens `path` in `format` (guessed from the extension when `None`).
    pub fn open(path: &Path, format: Option<Format>, mapping: &ColumnMapping) -> Result<Self> {
        let file_name = path.display().to_string();
        let format = format.or_else(|| Format::from_path(path)).ok_or_else(|| {
            Error::Invalid(format!(
                "{file_name}: cannot tell the format from the extension (use .csv, .json, .ndjson)"
            ))
        })?;
        let f = File::open(path).map_err(|source| Error::Io {
            file: file_name.clone(),
            source,
        })?;
        Self::from_reader(Box::new(f), &file_name, format, mapping)
    }

    /// Reads from any byte source; `name` is used in error messages.
    pub fn from_reader(
        r: Box<dyn Read + Send>,
        name: &str,
        format: Format,
        mapping: &ColumnMapping,
    ) -> Result<Self> {
        let inner = match format {
            Format::Csv => Inner::Csv(CsvSource::new(r, name, mapping)?),
            Format::Ndjson => Inner::Ndjson(NdjsonSource {
                lines: BufReader::new(r),
                file: name.to_string(),
                line: 0,
                buf: String::new(),
            }),
            Format::Json => Inner::Json(JsonSource::new(r, name)?),
        };
        Ok(DesiredReader { inner })
    }
}

impl Iterator for DesiredReader {
    type Item = Result<DesiredUser>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Csv(c) => c.next(),
            Inner::Ndjson(n) => n.next(),
            Inner::Json(j) => j.next(),
        }
    }
}

// ---------------------------------------------------------------- CSV

struct CsvSource {
    reader: csv::Reader<Box<dyn Read + Send>>,
    file: String,
    idx: BTreeMap<Field, usize>,
    sep: char,
    record: csv::StringRecord,
    done: bool,
}

impl CsvSource {
    fn new(r: Box<dyn Read + Send>, file: &str, mapping: &ColumnMapping) -> Result<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(r);
        let headers = reader
            .headers()
            .map_err(|e| Error::input(file, 1, format!("cannot read the header row: {e}")))?
            .clone();
        let mut idx = BTreeMap::new();
        for f in Field::ALL {
            let want = mapping.header_of(f);
            if let Some(i) = headers.iter().position(|h| h.eq_ignore_ascii_case(want)) {
                idx.insert(f, i);
            }
        }
        if !idx.contains_key(&Field::UserName) && !idx.contains_key(&Field::Email) {
            return Err(Error::input(
                file,
                1,
                format!(
                    "no `{}` or `{}` column (headers: {})",
                    mapping.header_of(Field::UserName),
                    mapping.header_of(Field::Email),
                    headers.iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        Ok(CsvSource {
            reader,
            file: file.to_string(),
            idx,
            sep: mapping.separator.unwrap_or(';'),
            record: csv::StringRecord::new(),
            done: false,
        })
    }

    fn cell(&self, f: Field) -> Option<&str> {
        let i = *self.idx.get(&f)?;
        self.record.get(i).filter(|s| !s.is_empty())
    }

    fn next(&mut self) -> Option<Result<DesiredUser>> {
        if self.done {
            return None;
        }
        match self.reader.read_record(&mut self.record) {
            Ok(false) => {
                self.done = true;
                None
            }
            Ok(true) => {
                let line = self.record.position().map(|p| p.line()).unwrap_or(0);
                Some(self.build(line))
            }
            Err(e) => {
                self.done = true;
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                Some(Err(Error::input(
                    &self.file,
                    line,
                    format!("malformed CSV: {e}"),
                )))
            }
        }
    }

    fn build(&self, line: u64) -> Result<DesiredUser> {
        let s = |f| self.cell(f).map(str::to_string);
        let file = &self.file;
        let user_name = match (self.cell(Field::UserName), self.cell(Field::Email)) {
            (Some(u), _) => u.to_string(),
            (None, Some(e)) => e.to_string(),
            (None, None) => {
                return Err(Error::input(
                    file,
                    line,
                    "userName and email are both empty",
                ));
            }
        };
        // No column or an empty cell: the state is not managed.
        let active = match self.cell(Field::Active) {
            None => None,
            Some(a) => Some(parse_bool(a).ok_or_else(|| {
                Error::input(file, line, format!("active: `{a}` is not true or false"))
            })?),
        };
        let list = |f: Field| -> Option<Vec<String>> {
            self.cell(f).map(|c| {
                c.split(self.sep)
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
        };
        let prof = |f: Field| -> Result<Option<Vec<Proficiency>>> {
            match list(f) {
                None => Ok(None),
                Some(items) => items
                    .iter()
                    .map(|it| {
                        parse_proficiency(it)
                            .map_err(|m| Error::input(file, line, format!("{}: {m}", f.header())))
                    })
                    .collect::<Result<Vec<_>>>()
                    .map(Some),
            }
        };
        Ok(DesiredUser {
            line,
            external_id: s(Field::ExternalId),
            user_name,
            display_name: s(Field::DisplayName),
            given_name: s(Field::GivenName),
            family_name: s(Field::FamilyName),
            email: s(Field::Email),
            title: s(Field::Title),
            department: s(Field::Department),
            division: s(Field::Division),
            active,
            groups: list(Field::Groups),
            skills: prof(Field::Skills)?,
            languages: prof(Field::Languages)?,
            roles: list(Field::Roles),
        })
    }
}

/// `true/false`, `yes/no`, `1/0` in any case (IdPs send `"False"`).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "active" => Some(true),
        "false" | "no" | "n" | "0" | "inactive" => Some(false),
        _ => None,
    }
}

/// `name:proficiency` with a proficiency from 0 to 5.
pub fn parse_proficiency(s: &str) -> std::result::Result<Proficiency, String> {
    let (name, p) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("`{s}` is not `name:proficiency`"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("`{s}` has no name"));
    }
    let p: f64 = p
        .trim()
        .parse()
        .map_err(|_| format!("`{s}`: proficiency is not a number"))?;
    if !(0.0..=5.0).contains(&p) {
        return Err(format!("`{s}`: proficiency must be between 0 and 5"));
    }
    Ok(Proficiency {
        name: name.to_string(),
        proficiency: p,
    })
}

// ---------------------------------------------------------------- SCIM JSON / NDJSON

struct NdjsonSource {
    lines: BufReader<Box<dyn Read + Send>>,
    file: String,
    line: u64,
    buf: String,
}

impl NdjsonSource {
    fn next(&mut self) -> Option<Result<DesiredUser>> {
        loop {
            self.buf.clear();
            self.line += 1;
            match self.lines.read_line(&mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(source) => {
                    return Some(Err(Error::Io {
                        file: self.file.clone(),
                        source,
                    }));
                }
            }
            let t = self.buf.trim();
            if t.is_empty() {
                continue;
            }
            let v: Value = match serde_json::from_str(t) {
                Ok(v) => v,
                Err(e) => {
                    return Some(Err(Error::input(
                        &self.file,
                        self.line,
                        format!("invalid JSON: {e}"),
                    )));
                }
            };
            return Some(
                scim_to_desired(&v, self.line).map_err(|m| Error::input(&self.file, self.line, m)),
            );
        }
    }
}

struct JsonSource {
    items: std::vec::IntoIter<Value>,
    file: String,
    n: u64,
}

impl JsonSource {
    fn new(r: Box<dyn Read + Send>, file: &str) -> Result<Self> {
        let v: Value = serde_json::from_reader(BufReader::new(r))
            .map_err(|e| Error::input(file, e.line() as u64, format!("invalid JSON: {e}")))?;
        let items = match v {
            Value::Array(a) => a,
            Value::Object(mut o) => {
                let key = o
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case("Resources"))
                    .cloned();
                match key.and_then(|k| o.remove(&k)) {
                    Some(Value::Array(a)) => a,
                    Some(_) => return Err(Error::input(file, 1, "`Resources` is not an array")),
                    None => vec![Value::Object(o)],
                }
            }
            _ => {
                return Err(Error::input(
                    file,
                    1,
                    "expected a SCIM ListResponse, an array or a User",
                ));
            }
        };
        Ok(JsonSource {
            items: items.into_iter(),
            file: file.to_string(),
            n: 0,
        })
    }

    fn next(&mut self) -> Option<Result<DesiredUser>> {
        let v = self.items.next()?;
        self.n += 1;
        Some(
            scim_to_desired(&v, self.n)
                .map_err(|m| Error::input(&self.file, self.n, format!("(element {}) {m}", self.n))),
        )
    }
}

fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn str_ci(v: &Value, key: &str) -> Option<String> {
    get_ci(v, key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn scim_profs(
    v: Option<&Value>,
    what: &str,
) -> std::result::Result<Option<Vec<Proficiency>>, String> {
    let Some(arr) = v.and_then(Value::as_array) else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(arr.len());
    for x in arr {
        let name = str_ci(x, "name").ok_or_else(|| format!("{what}: an entry has no name"))?;
        let p = match get_ci(x, "proficiency") {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(-1.0),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(-1.0),
            _ => 0.0,
        };
        if !(0.0..=5.0).contains(&p) {
            return Err(format!(
                "{what}: proficiency of `{name}` must be between 0 and 5"
            ));
        }
        out.push(Proficiency {
            name,
            proficiency: p,
        });
    }
    Ok(Some(out))
}

/// A SCIM User (core + enterprise + Genesys extension) as a desired user.
pub fn scim_to_desired(v: &Value, line: u64) -> std::result::Result<DesiredUser, String> {
    if !v.is_object() {
        return Err("a SCIM User must be a JSON object".into());
    }
    let emails = get_ci(v, "emails").and_then(Value::as_array);
    let email = emails.and_then(|a| {
        a.iter()
            .find(|e| matches!(get_ci(e, "primary"), Some(Value::Bool(true))))
            .or_else(|| a.first())
            .and_then(|e| str_ci(e, "value"))
    });
    let user_name = str_ci(v, "userName")
        .or_else(|| email.clone())
        .ok_or("userName is missing")?;
    let active = match get_ci(v, "active") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => {
            Some(parse_bool(s).ok_or_else(|| format!("active: `{s}` is not a boolean"))?)
        }
        Some(other) => return Err(format!("active: `{other}` is not a boolean")),
    };
    let name = get_ci(v, "name");
    let ent = get_ci(v, ENTERPRISE);
    let genx = get_ci(v, GENESYS_EXT);
    let groups = get_ci(v, "groups").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|g| str_ci(g, "display").or_else(|| g.as_str().map(str::to_string)))
            .collect()
    });
    Ok(DesiredUser {
        line,
        external_id: str_ci(v, "externalId"),
        user_name,
        display_name: str_ci(v, "displayName"),
        given_name: name.and_then(|n| str_ci(n, "givenName")),
        family_name: name.and_then(|n| str_ci(n, "familyName")),
        email,
        title: str_ci(v, "title"),
        department: ent.and_then(|e| str_ci(e, "department")),
        division: ent.and_then(|e| str_ci(e, "division")),
        active,
        groups,
        skills: scim_profs(
            genx.and_then(|g| get_ci(g, "routingSkills")),
            "routingSkills",
        )?,
        languages: scim_profs(
            genx.and_then(|g| get_ci(g, "routingLanguages")),
            "routingLanguages",
        )?,
        roles: get_ci(v, "roles").and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|r| str_ci(r, "value").or_else(|| str_ci(r, "display")))
                .collect()
        }),
    })
}

// ---------------------------------------------------------------- SCIM server pull

/// Pulls every user of another SCIM server (`GET {base}/Users?startIndex=&count=`) with a bearer
/// token, calling `f` for each one as its page arrives. Returns the number of users. The token is
/// never logged or put in an error.
pub async fn pull_scim(
    base_url: &str,
    token: &str,
    page_size: u32,
    mut f: impl FnMut(DesiredUser) -> Result<()>,
) -> Result<u64> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| Error::Source {
            url: base_url.to_string(),
            message: format!("cannot build HTTP client: {e}"),
        })?;
    let users_url = format!("{}/Users", base_url.trim_end_matches('/'));
    let mut start: u64 = 1;
    let mut n: u64 = 0;
    let count = page_size.clamp(1, 1000);
    loop {
        let err = |message: String| Error::Source {
            url: users_url.clone(),
            message,
        };
        let resp = http
            .get(&users_url)
            .bearer_auth(token)
            .header("accept", "application/scim+json, application/json")
            .query(&[
                ("startIndex", start.to_string()),
                ("count", count.to_string()),
            ])
            .send()
            .await
            .map_err(|e| err(format!("request failed: {}", e.without_url())))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(err(format!("HTTP {status} at startIndex {start}")));
        }
        let page: Value = resp.json().await.map_err(|e| {
            err(format!(
                "invalid response at startIndex {start}: {}",
                e.without_url()
            ))
        })?;
        let resources = get_ci(&page, "Resources")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let total = get_ci(&page, "totalResults").and_then(Value::as_u64);
        let got = resources.len() as u64;
        for r in resources {
            n += 1;
            let d = scim_to_desired(&r, n)
                .map_err(|m| Error::input(&users_url, n, format!("(resource {n}) {m}")))?;
            f(d)?;
        }
        start += got;
        if got == 0 || total.is_some_and(|t| start > t) {
            break;
        }
    }
    Ok(n)
}

/// Parses a reconcile config (the `[reconcile]` table of a TOML file, or its top level):
/// `columns = { externalId = "Employee ID", ... }`, `separator = ";"`,
/// `match_order = ["externalId", "userName", "email"]`, `missing = "deactivate"`.
pub fn parse_config(text: &str, file: &str) -> Result<crate::plan::Settings> {
    let cfg_err = |message: String| Error::Config {
        file: file.to_string(),
        message,
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| cfg_err(e.to_string()))?;
    let t = match table.get("reconcile") {
        Some(toml::Value::Table(t)) => t.clone(),
        Some(_) => return Err(cfg_err("`reconcile` must be a table".into())),
        None => table,
    };
    let mut s = crate::plan::Settings::default();
    for (k, v) in &t {
        match k.as_str() {
            "columns" => {
                let cols = v
                    .as_table()
                    .ok_or_else(|| cfg_err("`columns` must be a table".into()))?;
                for (field, header) in cols {
                    let f = Field::from_header(field).ok_or_else(|| {
                        cfg_err(format!(
                            "columns: unknown field `{field}` (known: {})",
                            Field::ALL.map(|f| f.header()).join(", ")
                        ))
                    })?;
                    let h = header
                        .as_str()
                        .ok_or_else(|| cfg_err(format!("columns.{field} must be a string")))?;
                    s.mapping.columns.insert(f, h.to_string());
                }
            }
            "separator" => {
                let sep = v
                    .as_str()
                    .ok_or_else(|| cfg_err("`separator` must be a string".into()))?;
                let mut chars = sep.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => s.mapping.separator = Some(c),
                    _ => return Err(cfg_err("`separator` must be one character".into())),
                }
            }
            "match_order" => {
                let arr = v
                    .as_array()
                    .ok_or_else(|| cfg_err("`match_order` must be an array".into()))?;
                let mut order = Vec::new();
                for x in arr {
                    let name = x.as_str().unwrap_or_default();
                    order.push(crate::plan::MatchKey::parse(name).ok_or_else(|| {
                        cfg_err(format!(
                            "match_order: `{name}` is not externalId, userName or email"
                        ))
                    })?);
                }
                if order.is_empty() {
                    return Err(cfg_err("`match_order` must not be empty".into()));
                }
                s.match_order = order;
            }
            "missing" => {
                let m = v.as_str().unwrap_or_default();
                s.missing = crate::plan::MissingAction::parse(m).ok_or_else(|| {
                    cfg_err(format!("missing: `{m}` is not never, deactivate or delete"))
                })?;
            }
            other => return Err(cfg_err(format!("unknown key `{other}`"))),
        }
    }
    Ok(s)
}
