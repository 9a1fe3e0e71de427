//! Required permissions per operation, copied from genesys-endpoints-relevant.txt (SDK docs).

/// What an operation requires.
#[derive(Debug, Clone, Copy)]
pub enum Required {
    None,
    Any(&'static [&'static str]),
    All(&'static [&'static str]),
}

const SCIM_USER_WRITE: &[&str] = &[
    "directory:user:edit",
    "directory:user:setPassword",
    "authorization:grant:add",
    "authorization:grant:delete",
    "routing:skill:assign",
    "routing:language:assign",
    "telephony:extension:assign",
];
const SCIM_USER_ADD: &[&str] = &[
    "directory:user:add",
    "authorization:grant:add",
    "authorization:grant:delete",
    "routing:skill:assign",
    "routing:language:assign",
    "telephony:extension:assign",
];
const QUEUE_MEMBER_VIEW: &[&str] = &[
    "routing:queue:view",
    "routing:queue:edit",
    "routing:queue:readonly",
    "routing:queueMember:manage",
];
const QUEUE_MEMBER_EDIT: &[&str] = &["routing:queue:edit", "routing:queueMember:manage"];
const LANG_ASSIGN: &[&str] = &["routing:skill:assign", "routing:language:assign"];

/// `template` is the axum route template (e.g. `/api/v2/users/{userId}`). SCIM paths are
/// normalised (lower case, `/scim/v2/` → `/scim/`) because both families share permissions.
pub fn required_permissions(method: &str, template: &str) -> Required {
    use Required::*;
    let t = template
        .to_ascii_lowercase()
        .replacen("/api/v2/scim/v2/", "/api/v2/scim/", 1);
    match (method, t.as_str()) {
        ("POST", "/api/v2/users") => Any(&["directory:user:add"]),
        ("PATCH", "/api/v2/users/{userid}") => Any(&[
            "admin",
            "directory:user:edit",
            "directory:organization:admin",
        ]),
        ("DELETE", "/api/v2/users/{userid}") => Any(&[
            "admin",
            "directory:user:delete",
            "directory:organization:admin",
        ]),
        ("POST" | "GET", "/api/v2/users/search") => Any(&["directory:user:view"]),
        ("POST", "/api/v2/users/{userid}/externalid") => Any(&["directory:user:edit"]),
        ("DELETE", "/api/v2/users/{userid}/externalid/{authorityname}/{externalkey}") => {
            Any(&["directory:user:edit"])
        }
        ("GET", "/api/v2/users/{userid}/state") => Any(&["directory:userStateChange:view"]),
        ("PUT", "/api/v2/users/{userid}/state") => Any(&["directory:user:edit"]),
        ("GET", "/api/v2/users/{userid}/roles") => Any(&["authorization:grant:view"]),
        ("PUT", "/api/v2/users/{userid}/roles") => Any(&["authorization:grant:add"]),
        ("POST", "/api/v2/users/{userid}/routingskills") => All(&["routing:skill:assign"]),
        ("PUT" | "DELETE", "/api/v2/users/{userid}/routingskills/{skillid}") => {
            All(&["routing:skill:assign"])
        }
        ("PATCH" | "PUT", "/api/v2/users/{userid}/routingskills/bulk") => {
            Any(&["routing:skill:assign"])
        }
        ("POST", "/api/v2/users/{userid}/routinglanguages") => Any(LANG_ASSIGN),
        ("PATCH" | "DELETE", "/api/v2/users/{userid}/routinglanguages/{languageid}") => {
            Any(LANG_ASSIGN)
        }
        ("PATCH", "/api/v2/users/{userid}/routinglanguages/bulk") => Any(LANG_ASSIGN),
        ("GET", "/api/v2/users/{userid}/queues") => Any(&["routing:queue:view"]),
        ("PATCH", "/api/v2/users/{userid}/queues" | "/api/v2/users/{userid}/queues/{queueid}") => {
            Any(&["routing:queue:join", "routing:queueMember:manage"])
        }

        ("POST", "/api/v2/groups") => Any(&["directory:group:add"]),
        ("PUT", "/api/v2/groups/{groupid}") => Any(&["directory:group:edit"]),
        ("DELETE", "/api/v2/groups/{groupid}") => Any(&["directory:group:delete"]),

        ("POST", "/api/v2/scim/users") => Any(SCIM_USER_ADD),
        ("PUT" | "PATCH", "/api/v2/scim/users/{userid}") => Any(SCIM_USER_WRITE),
        ("DELETE", "/api/v2/scim/users/{userid}") => Any(&["directory:user:delete"]),
        (_, "/api/v2/scim/groups" | "/api/v2/scim/groups/{groupid}") => {
            Any(&["directory:group:edit"])
        }

        ("GET", "/api/v2/oauth/clients" | "/api/v2/oauth/clients/{clientid}") => {
            Any(&["oauth:client:view"])
        }
        ("POST", "/api/v2/oauth/clients") => Any(&["oauth:client:add"]),
        ("PUT", "/api/v2/oauth/clients/{clientid}") => Any(&["oauth:client:edit"]),
        ("POST", "/api/v2/oauth/clients/{clientid}/secret") => Any(&["oauth:client:edit"]),
        ("DELETE", "/api/v2/oauth/clients/{clientid}") => Any(&["oauth:client:delete"]),

        ("GET", "/api/v2/routing/skills" | "/api/v2/routing/skills/{skillid}") => {
            Any(&["routing:skill:view"])
        }
        ("POST", "/api/v2/routing/skills") => {
            Any(&["routing:skill:manage", "routing:skill:create"])
        }
        ("DELETE", "/api/v2/routing/skills/{skillid}") => {
            Any(&["routing:skill:manage", "routing:skill:delete"])
        }
        ("PATCH", "/api/v2/routing/skills/{skillid}") => Any(&["routing:skill:update"]),
        ("POST", "/api/v2/routing/languages") => Any(&["routing:skill:manage"]),
        ("DELETE", "/api/v2/routing/languages/{languageid}") => Any(&["routing:skill:manage"]),
        ("GET", "/api/v2/routing/queues") => Any(&["routing:queue:view"]),
        ("GET", "/api/v2/routing/queues/{queueid}") => All(&["routing:queue:view"]),
        ("GET", "/api/v2/routing/queues/{queueid}/members") => Any(QUEUE_MEMBER_VIEW),
        ("POST" | "PATCH", "/api/v2/routing/queues/{queueid}/members") => Any(QUEUE_MEMBER_EDIT),
        ("PATCH" | "DELETE", "/api/v2/routing/queues/{queueid}/members/{memberid}") => {
            Any(QUEUE_MEMBER_EDIT)
        }

        (
            "GET",
            "/api/v2/authorization/roles"
            | "/api/v2/authorization/roles/{roleid}"
            | "/api/v2/authorization/roles/{roleid}/subjectgrants",
        ) => Any(&["authorization:role:view"]),
        ("GET", "/api/v2/authorization/subjects/{subjectid}") => Any(&["authorization:grant:view"]),
        ("POST", "/api/v2/authorization/subjects/{subjectid}/bulkadd") => {
            All(&["authorization:grant:add"])
        }
        ("POST", "/api/v2/authorization/subjects/{subjectid}/bulkremove") => {
            All(&["authorization:grant:delete"])
        }
        ("POST", "/api/v2/authorization/subjects/{subjectid}/bulkreplace") => {
            All(&["authorization:grant:add", "authorization:grant:delete"])
        }

        (
            "POST",
            "/api/v2/authorization/subjects/{subjectid}/divisions/{divisionid}/roles/{roleid}",
        ) => All(&["authorization:grant:add"]),
        (
            "DELETE",
            "/api/v2/authorization/subjects/{subjectid}/divisions/{divisionid}/roles/{roleid}",
        ) => All(&["authorization:grant:delete"]),
        ("PUT", "/api/v2/authorization/roles/{roleid}/users/add") => {
            Any(&["authorization:grant:add"])
        }
        ("PUT", "/api/v2/authorization/roles/{roleid}/users/remove") => {
            Any(&["authorization:grant:delete"])
        }
        ("POST", "/api/v2/audits/query/realtime") => All(&["audits:audit:view"]),
        ("POST", "/api/v2/audits/query") => All(&["audits:audit:view"]),
        (
            "GET",
            "/api/v2/audits/query/{transactionid}" | "/api/v2/audits/query/{transactionid}/results",
        ) => All(&["audits:audit:view"]),
        _ => None,
    }
}
