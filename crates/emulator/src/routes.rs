//! The route table of the API host (login and token routes are added in `server`).

use axum::Router;
use axum::routing::{get, patch, post, put};

use crate::server::App;
use crate::{audits, authz, groups, oauth, routing, scim, users};

pub fn api_routes() -> Router<App> {
    let mut r = Router::new()
        .route("/api/v2/users", get(users::list).post(users::create))
        .route(
            "/api/v2/users/search",
            get(users::search_get).post(users::search_post),
        )
        .route(
            "/api/v2/users/externalid/{authorityName}/{externalKey}",
            get(users::by_external_id),
        )
        .route(
            "/api/v2/users/{userId}",
            get(users::get_one)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route(
            "/api/v2/users/{userId}/externalid",
            get(users::externalid_list).post(users::externalid_post),
        )
        .route(
            "/api/v2/users/{userId}/externalid/{authorityName}",
            get(users::externalid_get),
        )
        .route(
            "/api/v2/users/{userId}/externalid/{authorityName}/{externalKey}",
            axum::routing::delete(users::externalid_delete),
        )
        .route(
            "/api/v2/users/{userId}/roles",
            get(users::roles_get).put(users::roles_put),
        )
        .route(
            "/api/v2/users/{userId}/routingskills",
            get(routing::user_skills).post(routing::user_skill_post),
        )
        .route(
            "/api/v2/users/{userId}/routingskills/bulk",
            patch(routing::user_skills_bulk_patch).put(routing::user_skills_bulk_put),
        )
        .route(
            "/api/v2/users/{userId}/routingskills/{skillId}",
            put(routing::user_skill_put).delete(routing::user_skill_delete),
        )
        .route(
            "/api/v2/users/{userId}/routinglanguages",
            get(routing::user_languages).post(routing::user_language_post),
        )
        .route(
            "/api/v2/users/{userId}/routinglanguages/bulk",
            patch(routing::user_languages_bulk_patch),
        )
        .route(
            "/api/v2/users/{userId}/routinglanguages/{languageId}",
            patch(routing::user_language_patch).delete(routing::user_language_delete),
        )
        .route(
            "/api/v2/users/{userId}/queues",
            get(routing::user_queues).patch(routing::user_queues_patch),
        )
        .route(
            "/api/v2/users/{userId}/queues/{queueId}",
            patch(routing::user_queue_patch),
        )
        .route(
            "/api/v2/users/{userId}/state",
            get(users::state_get).put(users::state_put),
        )
        .route("/api/v2/groups", get(groups::list).post(groups::create))
        .route(
            "/api/v2/groups/search",
            get(groups::search_get).post(groups::search_post),
        )
        .route(
            "/api/v2/groups/{groupId}",
            get(groups::get_one).put(groups::put).delete(groups::delete),
        )
        .route(
            "/api/v2/groups/{groupId}/members",
            get(groups::members)
                .post(groups::members_add)
                .delete(groups::members_remove),
        )
        .route("/api/v2/groups/{groupId}/individuals", get(groups::members))
        .route(
            "/api/v2/routing/skills",
            get(routing::skills_list).post(routing::skill_create),
        )
        .route(
            "/api/v2/routing/skills/{skillId}",
            get(routing::skill_get)
                .patch(routing::skill_patch)
                .delete(routing::skill_delete),
        )
        .route(
            "/api/v2/routing/languages",
            get(routing::languages_list).post(routing::language_create),
        )
        .route(
            "/api/v2/routing/languages/{languageId}",
            get(routing::language_get).delete(routing::language_delete),
        )
        .route("/api/v2/routing/queues", get(routing::queues_list))
        .route("/api/v2/routing/queues/{queueId}", get(routing::queue_get))
        .route(
            "/api/v2/routing/queues/{queueId}/members",
            get(routing::queue_members)
                .post(routing::queue_members_post)
                .patch(routing::queue_members_patch),
        )
        .route(
            "/api/v2/routing/queues/{queueId}/members/{memberId}",
            patch(routing::queue_member_patch).delete(routing::queue_member_delete),
        )
        .route("/api/v2/authorization/roles", get(authz::roles_list))
        .route("/api/v2/authorization/roles/{roleId}", get(authz::role_get))
        .route(
            "/api/v2/authorization/subjects/{subjectId}/divisions/{divisionId}/roles/{roleId}",
            post(authz::grant_add).delete(authz::grant_delete),
        )
        .route(
            "/api/v2/authorization/roles/{roleId}/users",
            get(authz::role_users),
        )
        .route(
            "/api/v2/authorization/roles/{roleId}/subjectgrants",
            get(authz::role_subject_grants),
        )
        .route(
            "/api/v2/authorization/divisions/{divisionId}/objects/{objectType}",
            post(authz::division_objects),
        )
        .route(
            "/api/v2/authorization/roles/{roleId}/users/add",
            put(authz::role_users_add),
        )
        .route(
            "/api/v2/authorization/roles/{roleId}/users/remove",
            put(authz::role_users_remove),
        )
        .route(
            "/api/v2/authorization/subjects/{subjectId}",
            get(authz::subject_get),
        )
        .route(
            "/api/v2/authorization/subjects/{subjectId}/bulkadd",
            post(authz::bulk_add),
        )
        .route(
            "/api/v2/authorization/subjects/{subjectId}/bulkremove",
            post(authz::bulk_remove),
        )
        .route(
            "/api/v2/authorization/subjects/{subjectId}/bulkreplace",
            post(authz::bulk_replace),
        )
        .route(
            "/api/v2/authorization/divisions",
            get(authz::divisions_list),
        )
        .route(
            "/api/v2/authorization/divisions/home",
            get(authz::division_home),
        )
        .route(
            "/api/v2/authorization/divisions/{divisionId}",
            get(authz::division_get),
        )
        .route(
            "/api/v2/oauth/clients",
            get(oauth::list).post(oauth::create),
        )
        .route(
            "/api/v2/oauth/clients/{clientId}",
            get(oauth::get_one).put(oauth::put).delete(oauth::delete),
        )
        .route(
            "/api/v2/oauth/clients/{clientId}/secret",
            post(oauth::secret),
        )
        .route("/api/v2/oauth/scopes", get(oauth::scopes))
        .route("/api/v2/audits/query", post(audits::query))
        .route(
            "/api/v2/audits/query/{transactionId}",
            get(audits::query_status),
        )
        .route(
            "/api/v2/audits/query/{transactionId}/results",
            get(audits::query_results),
        )
        .route("/api/v2/audits/query/realtime", post(audits::realtime));
    // SCIM: both families, lower-case paths (SDK) and the capitalised ones IdPs append.
    for base in ["/api/v2/scim/v2", "/api/v2/scim"] {
        for (users_seg, groups_seg, spc, rt, sch) in [
            (
                "users",
                "groups",
                "serviceproviderconfig",
                "resourcetypes",
                "schemas",
            ),
            (
                "Users",
                "Groups",
                "ServiceProviderConfig",
                "ResourceTypes",
                "Schemas",
            ),
        ] {
            let v2 = base.ends_with("/v2");
            r = r
                .route(
                    &format!("{base}/{users_seg}"),
                    get(scim::users_list).post(scim::user_create),
                )
                .route(
                    &format!("{base}/{users_seg}/{{userId}}"),
                    get(scim::user_get)
                        .put(scim::user_put)
                        .patch(scim::user_patch)
                        .delete(scim::user_delete),
                )
                .route(
                    &format!("{base}/{groups_seg}"),
                    if v2 {
                        get(scim::groups_list_v2)
                    } else {
                        get(scim::groups_list)
                    },
                )
                .route(
                    &format!("{base}/{groups_seg}/{{groupId}}"),
                    get(scim::group_get)
                        .put(scim::group_put)
                        .patch(scim::group_patch),
                )
                .route(&format!("{base}/{spc}"), get(scim::service_provider_config))
                .route(&format!("{base}/{rt}"), get(scim::resource_types))
                .route(
                    &format!("{base}/{rt}/{{resourceType}}"),
                    get(scim::resource_type),
                )
                .route(&format!("{base}/{sch}"), get(scim::schemas))
                .route(&format!("{base}/{sch}/{{schemaId}}"), get(scim::schema));
        }
    }
    r
}
