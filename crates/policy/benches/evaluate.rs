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

fn user(i: usize) -> Value {
    let dept = ["Sales", "Support", "Billing", "Marketing"][i % 4];
    let domain = if i.is_multiple_of(10) {
        "gmail.com"
    } else {
        "acme.example"
    };
    let group = ["GC-Sales-Agents", "GC-Support-Agents", "GC-Supervisors"][i % 3];
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
        "roles": [{"value": "Agent"}],
        "groups": [{"value": format!("g-{}", i % 3), "display": group}],
        ENT: {"department": dept, "costCenter": format!("CC-{:04}", 1000 + i % 2000), "division": dept, "employeeNumber": format!("E{i}")},
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
    let users: Vec<Value> = (0..1000).map(user).collect();
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
    g.throughput(Throughput::Elements(users.len() as u64));
    g.bench_function("evaluate_20_rules_x1000_users", |b| {
        b.iter(|| {
            let mut rejected = 0usize;
            for u in &users {
                if policy.evaluate_with(black_box(u), &ctx).is_rejected() {
                    rejected += 1;
                }
            }
            black_box(rejected)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
