//! Evaluations per second of a realistic 20-rule policy against generated users.
//! Run: cargo bench -p gcprov-policy --bench evaluate

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gcprov_policy::{EvalContext, InMemoryOracle, Policy};
use serde_json::{Value, json};
use std::hint::black_box;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

const POLICY: &str = r#"
[policy]
name = "bench-20"

[[rule]]
name = "username"
kind = "required"
path = "userName"
[[rule]]
name = "display-name"
kind = "required"
path = "displayName"
[[rule]]
name = "primary-email"
kind = "primary_email"
[[rule]]
name = "domains"
kind = "email_domain"
allow = ["acme.example", "acme-support.example", "bücher.example"]
deny = ["contractors.acme.example"]
include_subdomains = true
[[rule]]
name = "personal-mail"
kind = "email_domain"
mode = "warn"
deny = ["gmail.com", "outlook.com"]
[[rule]]
name = "username-length"
kind = "length"
path = "userName"
min = 6
max = 100
[[rule]]
name = "no-password"
kind = "forbidden"
path = "password"
[[rule]]
name = "departments"
kind = "allowed_values"
path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
values = ["Sales", "Support", "Collections", "Quality", "Billing", "Retention"]
[[rule]]
name = "titles"
kind = "denied_values"
mode = "warn"
path = "title"
values = ["Temp", "Test User"]
[[rule]]
name = "cost-centre"
kind = "regex"
path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter"
pattern = '^CC-[0-9]{4}$'
[[rule]]
name = "sales-cost-centre"
kind = "conditional"
when = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Sales"'
then = { kind = "regex", path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter", pattern = '^CC-1[0-9]{3}$' }
[[rule]]
name = "agents-work-phone"
kind = "conditional"
mode = "warn"
when = 'active eq true and roles[value eq "Agent"]'
then = { kind = "required", path = 'phoneNumbers[type eq "work"].value' }
[[rule]]
name = "employee-number"
kind = "required"
path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
[[rule]]
name = "employee-number-unique"
kind = "unique"
path = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"
[[rule]]
name = "external-id-format"
kind = "regex"
path = "externalId"
pattern = '^[0-9a-f]{8}$'
[[rule]]
name = "given-name-length"
kind = "length"
path = "name.givenName"
max = 64
[[rule]]
name = "max-groups"
kind = "max_groups"
max = 5
[[rule]]
name = "mapping"
kind = "group_mapping"
[[rule.mapping]]
group = "GC-Sales-Agents"
roles = ["Agent"]
divisions = ["Sales"]
[[rule.mapping]]
group = "GC-Support-Agents"
roles = ["Agent"]
divisions = ["Support"]
[[rule.mapping]]
group = "GC-Supervisors"
roles = ["Supervisor"]
divisions = ["*"]
[[rule]]
name = "skills"
kind = "allowed_values"
path = "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User:routingSkills.name"
values = ["Billing", "Sales", "Retention", "Technical"]
case_sensitive = true
[[rule]]
name = "work-email-domain"
kind = "email_domain"
path = 'emails[type eq "work"].value'
allow = ["acme.example"]
include_subdomains = true
"#;

/// A generated user. `violating`: every 10th user has a personal mailbox (rejected by the
/// domain allowlist) and every 20th a department outside the list; the rest pass.
fn user(i: usize, violating: bool) -> Value {
    let (mut dept, group, role) = match i % 4 {
        0 => ("Sales", "GC-Sales-Agents", "Agent"),
        1 => ("Support", "GC-Support-Agents", "Agent"),
        2 => ("Billing", "GC-Supervisors", "Supervisor"),
        _ => ("Collections", "GC-Supervisors", "Supervisor"),
    };
    let mut domain = "acme.example";
    if violating && i.is_multiple_of(10) {
        domain = "gmail.com";
    }
    if violating && i % 20 == 5 {
        dept = "Marketing";
    }
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
        "id": format!("u-{i}"),
        "externalId": format!("{:08x}", i),
        "userName": format!("agent.{i}@{domain}"),
        "displayName": format!("Agent {i}"),
        "name": {"givenName": "Agent", "familyName": format!("N{i}")},
        "active": true,
        "title": "Agent",
        "emails": [{"value": format!("agent.{i}@{domain}"), "type": "work", "primary": true}],
        "phoneNumbers": [{"value": "+441234567890", "type": "work"}],
        "roles": [{"value": role}],
        "groups": [{"value": format!("g-{}", i % 4), "display": group}],
        ENT: {"department": dept, "costCenter": format!("CC-{:04}", 1000 + i % 1000), "division": dept, "employeeNumber": format!("E{i}")},
        "urn:ietf:params:scim:schemas:extension:genesys:purecloud:2.0:User": {
            "routingSkills": [{"name": "Billing", "proficiency": 3}, {"name": "Sales", "proficiency": 2}]
        }
    })
}

fn bench(c: &mut Criterion) {
    let policy = match Policy::from_toml(POLICY, "bench.toml") {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(policy.rules().len(), 20);
    let clean: Vec<Value> = (0..1000).map(|i| user(i, false)).collect();
    let mixed: Vec<Value> = (0..1000).map(|i| user(i, true)).collect();
    let mut oracle = InMemoryOracle::new();
    for i in 0..1000 {
        oracle.insert(
            &format!("{ENT}:employeeNumber"),
            &format!("E{}", i + 5000),
            &format!("x-{i}"),
        );
    }
    let ctx = EvalContext {
        kind: None,
        oracle: Some(&oracle),
    };
    let mut g = c.benchmark_group("policy");
    for (label, users) in [("clean", &clean), ("15pct_violating", &mixed)] {
        let rejected = users
            .iter()
            .filter(|u| policy.evaluate_with(u, &ctx).is_rejected())
            .count();
        eprintln!("{label}: {rejected} of {} users rejected", users.len());
        g.throughput(Throughput::Elements(users.len() as u64));
        g.bench_function(format!("evaluate_20_rules_1000_users_{label}"), |b| {
            b.iter(|| {
                let mut rejected = 0usize;
                for u in users.iter() {
                    if policy.evaluate_with(black_box(u), &ctx).is_rejected() {
                        rejected += 1;
                    }
                }
                black_box(rejected)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
