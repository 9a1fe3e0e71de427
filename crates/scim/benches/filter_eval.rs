//! Parse + evaluate realistic IdP filters against 100,000 generated users.
//!
//! Run: `cargo bench -p gcprov-scim --bench filter_eval`. Each iteration parses the filter,
//! compiles it against the User schema and scans all users; throughput is in users (filter
//! evaluations) per second. Results are recorded in docs/benchmarks/scim.md.
//!
//! Two groups measure the same work: `*_cpu` with the benchmark thread's CPU time (from
//! `/proc/thread-self/schedstat`, so time spent waiting for a core on a shared machine is not
//! counted: this is the "per core" figure) and `*_wall` with wall-clock time.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use gcprov_scim::Resource;
use gcprov_scim::eval::CompiledFilter;
use gcprov_scim::filter::parse;
use gcprov_scim::schema::defs::user_resource;
use serde_json::json;

const USERS: usize = 100_000;

fn users() -> Vec<Resource> {
    (0..USERS)
        .map(|i| {
            let domain = if i % 3 == 0 { "acme.com" } else { "example.org" };
            Resource::from_json(json!({
                "schemas": [
                    "urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
                ],
                "id": format!("{i:08x}-7f76-453a-919d-413861904646"),
                "externalId": format!("ext-{i}"),
                "userName": format!("User.{i}@{domain}"),
                "name": {"givenName": format!("Given{i}"), "familyName": format!("Family{}", i % 977)},
                "displayName": format!("Given{i} Family{}", i % 977),
                "title": if i % 2 == 0 { "Agent" } else { "Supervisor" },
                "active": i % 10 != 0,
                "emails": [
                    {"value": format!("user.{i}@{domain}"), "type": "work", "primary": true},
                    {"value": format!("u{i}@home.example"), "type": "home"}
                ],
                "meta": {"resourceType": "User", "lastModified": "2024-06-01T12:30:00Z", "version": "W/\"1\""},
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "department": format!("Dept{}", i % 50),
                    "employeeNumber": format!("{i}")
                }
            }))
            .expect("object")
        })
        .collect()
}

fn scan(filter: &str, users: &[Resource]) -> usize {
    let f = parse(filter).expect("valid filter");
    let c = CompiledFilter::compile(&f, user_resource()).expect("compiles");
    users.iter().filter(|u| c.matches(u)).count()
}

/// CPU time of the current thread in nanoseconds (Linux; scheduler-tick granularity).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Criterion measurement: thread CPU time, formatted like wall time.
struct ThreadCpuTime(WallTime);

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, i: u64) -> u64 {
        thread_cpu_ns().saturating_sub(i)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

const CASES: [(&str, &str, usize); 4] = [
    ("userName_eq", r#"userName eq "user.77777@example.org""#, 1),
    (
        "three_clause_value_path",
        r#"active eq true and title eq "Agent" and emails[type eq "work" and value co "@acme.com"]"#,
        13_333,
    ),
    (
        "entra_emails_work_value_eq",
        r#"emails[type eq "work"].value eq "user.99999@acme.com""#,
        1,
    ),
    ("externalId_eq_unquoted", "externalId eq ext-4242", 1),
];

fn run_cases<M: Measurement>(mut g: BenchmarkGroup<'_, M>, users: &[Resource]) {
    g.throughput(Throughput::Elements(USERS as u64));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    for (name, filter, expected) in CASES {
        assert_eq!(scan(filter, users), expected, "{name}");
        g.bench_function(name, |b| {
            b.iter(|| scan(black_box(filter), black_box(users)))
        });
    }
    g.finish();
}

fn bench_cpu(c: &mut Criterion<ThreadCpuTime>) {
    let users = users();
    run_cases(c.benchmark_group("filter_eval_100k_users_cpu"), &users);
}

fn bench(c: &mut Criterion) {
    let users = users();
    run_cases(c.benchmark_group("filter_eval_100k_users_wall"), &users);

    let mut p = c.benchmark_group("filter_parse");
    p.sample_size(50);
    p.measurement_time(Duration::from_secs(2));
    let text = r#"userName eq "bjensen" and (emails[type eq "work" and value co "@acme.com"] or not (title pr))"#;
    p.bench_function("parse_compile_idp_filter", |b| {
        b.iter(|| {
            CompiledFilter::compile(&parse(black_box(text)).expect("valid"), user_resource())
                .expect("compiles")
        })
    });
    p.finish();
}

criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpuTime(WallTime));
    targets = bench_cpu
}
criterion_group!(wall, bench);
criterion_main!(cpu, wall);
