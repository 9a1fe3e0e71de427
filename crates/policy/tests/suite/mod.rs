mod http;
mod input;
mod load;
mod robustness;
mod rules;
mod scan;

use gcprov_policy::Policy;

/// Load a policy from inline TOML (file name `test.toml` in errors).
pub fn policy(toml: &str) -> Policy {
    match Policy::from_toml(toml, "test.toml") {
        Ok(p) => p,
        Err(e) => panic!("policy should load: {e}"),
    }
}

pub fn demo() -> Policy {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy/demo.toml");
    match Policy::load(&path) {
        Ok(p) => p,
        Err(e) => panic!("demo policy should load: {e}"),
    }
}

pub const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Codes of all violations (enforce then warn).
pub fn codes(d: &gcprov_policy::Decision) -> Vec<String> {
    d.all().map(|v| v.code.clone()).collect()
}
