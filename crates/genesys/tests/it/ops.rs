//! One test per operation family against the emulator.

use futures::TryStreamExt;
use gcprov_genesys::models::*;
use gcprov_genesys::{Conditional, Error, ListUsers};

use super::common::*;

fn new_user(email: &str) -> CreateUser {
    CreateUser {
        name: format!("User {email}"),
        email: email.to_string(),
        title: Some("Agent".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn users_lifecycle() {
    let emu = emulator().await;
    let c = client(&emu);
    let mail = email("life", 0);
    let u = c.create_user(&new_user(&mail)).await.unwrap();
    let id = u.id.clone().unwrap();
    assert_eq!(u.email.as_deref(), Some(mail.as_str()));
    let v = u.version.unwrap();

    // A second create of the same email is a typed 409 conflict (not a version conflict).
    let dup = c.create_user(&new_user(&mail)).await.unwrap_err();
    assert!(dup.is_conflict(), "{dup:?}");
    assert!(dup.correlation_id().is_some());

    let got = c.get_user(&id, &[]).await.unwrap();
    assert_eq!(got.id.as_deref(), Some(id.as_str()));

    // Paged listing as a stream.
    let all: Vec<User> = c
        .list_users(ListUsers {
            page_size: Some(2),
            state: Some("any".into()),
            ..Default::default()
        })
        .try_collect()
        .await
        .unwrap();
    assert!(all.iter().any(|x| x.id.as_deref() == Some(id.as_str())));
    let mut ids: Vec<_> = all.iter().filter_map(|u| u.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "pages must not repeat users");

    // Patch with the right version, then with a stale one.
    let patched = c
        .update_user(
            &id,
            &UpdateUser {
                version: v,
                title: Some("Senior agent".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.title.as_deref(), Some("Senior agent"));
    let stale = c
        .update_user(
            &id,
            &UpdateUser {
                version: v,
                title: Some("x".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(stale.is_version_conflict(), "{stale:?}");

    // Search by email.
    let found = c.find_user_by_email(&mail).await.unwrap().unwrap();
    assert_eq!(found.id.as_deref(), Some(id.as_str()));
    let page = c
        .search_users(&SearchRequest::new(vec![SearchCriteria::of(
            SearchType::Contains,
            "name",
            &mail,
        )]))
        .await
        .unwrap();
    assert_eq!(page.results.len(), 1);

    // External ids.
    let ext = UserExternalIdentifier {
        authority_name: Some("hr".into()),
        external_key: Some("E-1".into()),
        ..Default::default()
    };
    let list = c.add_external_id(&id, &ext).await.unwrap();
    assert!(
        list.iter()
            .any(|e| e.external_key.as_deref() == Some("E-1"))
    );
    let by_ext = c.get_user_by_external_id("hr", "E-1").await.unwrap();
    assert_eq!(by_ext.id.as_deref(), Some(id.as_str()));
    c.delete_external_id(&id, "hr", "E-1").await.unwrap();
    assert!(
        c.get_user_by_external_id("hr", "E-1")
            .await
            .unwrap_err()
            .is_not_found()
    );

    // Soft delete and restore.
    c.delete_user(&id).await.unwrap();
    assert!(c.get_user(&id, &[]).await.unwrap_err().is_not_found());
    let deleted = c.get_user_in_state(&id, "deleted").await.unwrap();
    assert_eq!(deleted.state, Some(EntityState::Deleted));
    assert!(c.find_user_by_email(&mail).await.unwrap().is_none());
    let restored = c.restore_user(&id, deleted.version.unwrap()).await.unwrap();
    assert_eq!(restored.state, Some(EntityState::Active));
    emu.shutdown().await;
}

#[tokio::test]
async fn routing_skills_languages_and_queues() {
    let emu = emulator().await;
    let c = client(&emu);
    let u = c
        .create_user(&new_user(&email("routing", 0)))
        .await
        .unwrap();
    let uid = u.id.unwrap();

    // 60 skills: the bulk assignment is split in chunks of 50.
    let mut posts = Vec::new();
    for i in 0..60 {
        let s = c
            .create_skill(&CreateRoutingSkill {
                name: format!("Skill {i:02}"),
                division_id: None,
            })
            .await
            .unwrap();
        posts.push(UserRoutingSkillPost {
            id: s.id.unwrap(),
            proficiency: 3.0,
        });
    }
    assert!(c.find_skill_by_name("Skill 07").await.unwrap().is_some());
    let catalogue: Vec<RoutingSkill> = c.list_skills(None).try_collect().await.unwrap();
    assert!(catalogue.len() >= 60);
    c.add_user_skills(&uid, &posts).await.unwrap();
    let assigned: Vec<UserRoutingSkill> = c.list_user_skills(&uid).try_collect().await.unwrap();
    assert_eq!(assigned.len(), 60);
    let stats = stats(&emu).await;
    assert_eq!(
        stats["byRoute"]["PATCH /api/v2/users/{userId}/routingskills/bulk"].as_u64(),
        Some(2),
        "{stats}"
    );
    c.replace_user_skills(&uid, &posts[..5]).await.unwrap();
    let assigned: Vec<UserRoutingSkill> = c.list_user_skills(&uid).try_collect().await.unwrap();
    assert_eq!(assigned.len(), 5);
    c.remove_user_skill(&uid, &posts[0].id).await.unwrap();
    let assigned: Vec<UserRoutingSkill> = c.list_user_skills(&uid).try_collect().await.unwrap();
    assert_eq!(assigned.len(), 4);

    // Languages.
    let fr = c.create_language("French").await.unwrap();
    let de = c.create_language("German").await.unwrap();
    let langs: Vec<Language> = c.list_languages(None).try_collect().await.unwrap();
    assert!(langs.len() >= 2);
    c.add_user_languages(
        &uid,
        &[
            UserRoutingLanguagePost {
                id: fr.id.clone().unwrap(),
                proficiency: 4.0,
            },
            UserRoutingLanguagePost {
                id: de.id.clone().unwrap(),
                proficiency: 2.0,
            },
        ],
    )
    .await
    .unwrap();
    let ul: Vec<UserRoutingLanguage> = c.list_user_languages(&uid).try_collect().await.unwrap();
    assert_eq!(ul.len(), 2);
    c.remove_user_language(&uid, de.id.as_deref().unwrap())
        .await
        .unwrap();
    let ul: Vec<UserRoutingLanguage> = c.list_user_languages(&uid).try_collect().await.unwrap();
    assert_eq!(ul.len(), 1);

    // Queues.
    let queues: Vec<UserQueue> = c.list_queues(None).try_collect().await.unwrap();
    assert!(!queues.is_empty());
    let qid = queues[0].id.clone().unwrap();
    c.add_queue_members(&qid, &[uid.as_str()]).await.unwrap();
    let members: Vec<QueueMember> = c.list_queue_members(&qid).try_collect().await.unwrap();
    assert!(
        members
            .iter()
            .any(|m| m.id.as_deref() == Some(uid.as_str()))
    );
    let uq: Vec<UserQueue> = c.list_user_queues(&uid).try_collect().await.unwrap();
    assert!(uq.iter().any(|q| q.id.as_deref() == Some(qid.as_str())));
    c.set_user_queues_joined(&uid, &[(qid.as_str(), false)])
        .await
        .unwrap();
    c.remove_queue_members(&qid, &[uid.as_str()]).await.unwrap();
    let members: Vec<QueueMember> = c.list_queue_members(&qid).try_collect().await.unwrap();
    assert!(
        !members
            .iter()
            .any(|m| m.id.as_deref() == Some(uid.as_str()))
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn roles_divisions_and_grants() {
    let emu = emulator().await;
    let c = client(&emu);
    let home = c.get_home_division().await.unwrap();
    let home_id = home.id.clone().unwrap();
    let divisions: Vec<AuthzDivision> = c.list_divisions().try_collect().await.unwrap();
    assert!(divisions.iter().any(|d| d.id == home.id));
    assert_eq!(c.get_division(&home_id).await.unwrap().id, home.id);
    let roles: Vec<OrganizationRole> = c.list_roles(None).try_collect().await.unwrap();
    let role_id = roles[0].id.clone().unwrap();

    let u = c.create_user(&new_user(&email("grants", 0))).await.unwrap();
    let uid = u.id.unwrap();
    let auth = c.set_user_roles(&uid, &[role_id.as_str()]).await.unwrap();
    assert!(
        auth.roles
            .unwrap()
            .iter()
            .any(|r| r.id.as_deref() == Some(role_id.as_str()))
    );
    let auth = c.get_user_roles(&uid).await.unwrap();
    assert_eq!(auth.roles.map(|r| r.len()), Some(1));

    let pair = RoleDivisionPair {
        role_id: role_id.clone(),
        division_id: home_id.clone(),
    };
    c.replace_grants(&uid, SubjectType::User, &[])
        .await
        .unwrap();
    c.add_grants(&uid, SubjectType::User, std::slice::from_ref(&pair))
        .await
        .unwrap();
    let subject = c.get_subject(&uid).await.unwrap();
    assert_eq!(subject.grants.as_ref().map(|g| g.len()), Some(1));
    c.remove_grants(&uid, std::slice::from_ref(&pair))
        .await
        .unwrap();
    let subject = c.get_subject(&uid).await.unwrap();
    assert_eq!(subject.grants.map(|g| g.len()).unwrap_or(0), 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn groups_and_members() {
    let emu = emulator().await;
    let c = client(&emu);
    let g = c
        .create_group(&GroupCreate::official("Team Blue"))
        .await
        .unwrap();
    let gid = g.id.clone().unwrap();
    assert_eq!(
        c.find_group_by_name("Team Blue").await.unwrap().unwrap().id,
        g.id
    );

    let mut users = Vec::new();
    for i in 0..120 {
        let u = c.create_user(&new_user(&email("member", i))).await.unwrap();
        users.push(u.id.unwrap());
    }
    let refs: Vec<&str> = users.iter().map(String::as_str).collect();
    // 120 ids → 3 versioned chunks of at most 50.
    c.add_group_members(&gid, &refs).await.unwrap();
    let members: Vec<User> = c.list_group_members(&gid).try_collect().await.unwrap();
    assert_eq!(members.len(), 120);
    c.remove_group_members(&gid, &refs[..70]).await.unwrap();
    let members: Vec<User> = c.list_group_members(&gid).try_collect().await.unwrap();
    assert_eq!(members.len(), 50);
    let s = stats(&emu).await;
    assert_eq!(
        s["byRoute"]["POST /api/v2/groups/{groupId}/members"].as_u64(),
        Some(3),
        "{s}"
    );
    assert_eq!(
        s["byRoute"]["DELETE /api/v2/groups/{groupId}/members"].as_u64(),
        Some(2),
        "{s}"
    );

    // Too many ids for the low-level call is refused locally.
    let err = c
        .add_group_members_versioned(&gid, &refs[..51], 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));

    // Versioned update; a stale version is a typed conflict.
    let cur = c.get_group(&gid).await.unwrap();
    let v = cur.version.unwrap();
    let up = c
        .update_group(
            &gid,
            &GroupUpdate {
                version: v,
                description: Some("blue team".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(up.description.as_deref(), Some("blue team"));
    let stale = c
        .update_group(
            &gid,
            &GroupUpdate {
                version: v,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(stale.is_version_conflict(), "{stale:?}");
    let stale = c
        .add_group_members_versioned(&gid, &refs[..1], v)
        .await
        .unwrap_err();
    assert!(stale.is_version_conflict(), "{stale:?}");

    let listed: Vec<Group> = c.list_groups().try_collect().await.unwrap();
    assert!(listed.iter().any(|x| x.id == g.id));
    c.delete_group(&gid).await.unwrap();
    assert!(c.get_group(&gid).await.unwrap_err().is_not_found());
    emu.shutdown().await;
}

#[tokio::test]
async fn scim_users_and_groups_with_etags() {
    let emu = emulator().await;
    let c = client(&emu);
    let mail = email("scim", 0);
    let created = c
        .scim_create_user(&ScimV2User {
            schemas: Some(vec![SCIM_USER_SCHEMA.into()]),
            user_name: Some(mail.clone()),
            display_name: Some("Scim User".into()),
            active: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    let id = created.resource.id.clone().unwrap();

    let Conditional::Modified(got) = c.scim_get_user(&id, None).await.unwrap() else {
        panic!("expected a body")
    };
    let etag = got.etag.clone().expect("etag");
    assert_eq!(
        c.scim_get_user(&id, Some(&etag)).await.unwrap(),
        Conditional::NotModified
    );

    let patch = ScimPatchRequest::new(vec![ScimPatchOperation {
        op: ScimPatchOpKind::Replace,
        path: Some("title".into()),
        value: Some(serde_json::json!("Lead")),
    }]);
    let patched = c.scim_patch_user(&id, &patch, Some(&etag)).await.unwrap();
    assert_eq!(patched.resource.title.as_deref(), Some("Lead"));
    assert_ne!(patched.etag.as_deref(), Some(etag.as_str()));
    // The old ETag is stale now: typed version conflict, not re-sent.
    let stale = c
        .scim_patch_user(&id, &patch, Some(&etag))
        .await
        .unwrap_err();
    assert!(stale.is_version_conflict(), "{stale:?}");
    assert_eq!(stale.api().and_then(|a| a.scim_type()), Some("invalidVers"));

    let mut replacement = patched.resource.clone();
    replacement.display_name = Some("Renamed".into());
    replacement.meta = None;
    let replaced = c
        .scim_replace_user(&id, &replacement, patched.etag.as_deref())
        .await
        .unwrap();
    assert_eq!(replaced.resource.display_name.as_deref(), Some("Renamed"));

    let listed: Vec<ScimV2User> = c
        .scim_list_users(Some(&format!("userName eq \"{mail}\"")))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);

    // SCIM groups: existing Genesys groups only.
    let g = c
        .create_group(&GroupCreate::official("Scim Team"))
        .await
        .unwrap();
    let gid = g.id.unwrap();
    let Conditional::Modified(sg) = c.scim_get_group(&gid, None).await.unwrap() else {
        panic!("expected a body")
    };
    let add = ScimPatchRequest::new(vec![ScimPatchOperation {
        op: ScimPatchOpKind::Add,
        path: Some("members".into()),
        value: Some(serde_json::json!([{ "value": id }])),
    }]);
    let after = c
        .scim_patch_group(&gid, &add, sg.etag.as_deref())
        .await
        .unwrap();
    assert_eq!(after.resource.members.map(|m| m.len()), Some(1));
    let groups: Vec<ScimV2Group> = c
        .scim_list_groups("displayName eq \"Scim Team\"")
        .try_collect()
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);

    c.scim_delete_user(&id, replaced.etag.as_deref())
        .await
        .unwrap();
    assert!(c.scim_get_user(&id, None).await.unwrap_err().is_not_found());
    emu.shutdown().await;
}

#[tokio::test]
async fn oauth_clients() {
    use secrecy::ExposeSecret;
    let emu = emulator().await;
    let c = client(&emu);
    let home = c.get_home_division().await.unwrap().id.unwrap();
    let roles: Vec<OrganizationRole> = c.list_roles(None).try_collect().await.unwrap();
    let rd = RoleDivision {
        role_id: roles[0].id.clone().unwrap(),
        division_id: home,
    };
    let created = c
        .create_oauth_client(&OAuthClientRequest::client_credentials(
            "provisioner",
            vec![rd],
        ))
        .await
        .unwrap();
    let id = created.id.clone().unwrap();
    let secret = created.secret.clone().expect("secret on create");
    assert!(!format!("{created:?}").contains(secret.expose_secret()));

    assert_eq!(
        c.get_oauth_client(&id).await.unwrap().name.as_deref(),
        Some("provisioner")
    );
    assert!(
        c.list_oauth_clients()
            .await
            .unwrap()
            .iter()
            .any(|x| x.id == created.id)
    );

    let mut req = created.to_request();
    req.description = Some("gcprov".into());
    let up = c.update_oauth_client(&id, &req).await.unwrap();
    assert_eq!(up.description.as_deref(), Some("gcprov"));

    let regen = c.regenerate_oauth_client_secret(&id).await.unwrap();
    let new_secret = regen.secret.expect("new secret");
    assert_ne!(new_secret.expose_secret(), secret.expose_secret());

    let off = c
        .set_oauth_client_state(&id, OAuthClientState::Inactive)
        .await
        .unwrap();
    assert_eq!(off.state, Some(OAuthClientState::Inactive));
    c.delete_oauth_client(&id).await.unwrap();
    assert!(c.get_oauth_client(&id).await.unwrap_err().is_not_found());

    let scopes = c.list_oauth_scopes().await.unwrap();
    assert!(
        scopes
            .entities
            .unwrap()
            .iter()
            .any(|s| s.id.as_deref() == Some("users"))
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn audits_realtime_query() {
    let emu = emulator().await;
    let c = client(&emu);
    c.create_user(&new_user(&email("audit", 0))).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    let fmt = &time::format_description::well_known::Rfc3339;
    let interval = format!(
        "{}/{}",
        (now - time::Duration::hours(1)).format(fmt).unwrap(),
        (now + time::Duration::hours(1)).format(fmt).unwrap()
    );
    let r = c
        .audit_realtime_query(&AuditRealtimeQueryRequest {
            interval: Some(interval),
            service_name: Some("Directory".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(r.entities.is_some());
    emu.shutdown().await;
}

#[tokio::test]
async fn single_user_pages_role_holders_and_division_moves() {
    let emu = emulator_with(|c| {
        c.rate_limit_per_minute = None;
        c.generate_users = 7;
    })
    .await;
    let c = client(&emu);
    let opts = ListUsers {
        page_size: Some(3),
        ..Default::default()
    };
    // Page 1 tells how many pages there are; a later page can be read on its own.
    let first = c.list_users_page(&opts, 1).await.unwrap();
    assert_eq!(first.entities.len(), 3);
    let pages = first.page_count.unwrap();
    assert!(pages >= 3, "{pages}");
    let last = c.list_users_page(&opts, pages as u32).await.unwrap();
    let all: Vec<User> = c.list_users(opts.clone()).try_collect().await.unwrap();
    assert_eq!(
        last.entities.last().and_then(|u| u.id.clone()),
        all.last().and_then(|u| u.id.clone())
    );
    assert!(matches!(
        c.list_users_page(&opts, 0).await,
        Err(Error::InvalidArgument(_))
    ));

    // Holders of a role with their divisions.
    let home = c.get_home_division().await.unwrap().id.unwrap();
    let roles: Vec<OrganizationRole> = c.list_roles(None).try_collect().await.unwrap();
    let role_id = roles[0].id.clone().unwrap();
    let uid = all[0].id.clone().unwrap();
    c.add_grants(
        &uid,
        SubjectType::User,
        &[RoleDivisionPair {
            role_id: role_id.clone(),
            division_id: home.clone(),
        }],
    )
    .await
    .unwrap();
    let holders: Vec<SubjectDivisionGrants> = c
        .list_role_subject_grants(&role_id)
        .try_collect()
        .await
        .unwrap();
    let mine = holders
        .iter()
        .find(|h| h.id.as_deref() == Some(uid.as_str()))
        .expect("the user holds the role");
    assert_eq!(mine.subject_type.as_deref(), Some("PC_USER"));
    assert_eq!(
        mine.divisions.as_ref().unwrap()[0].id.as_deref(),
        Some(home.as_str())
    );

    // Division moves: at most 50 ids a call, refused before sending.
    let ids: Vec<&str> = (0..51).map(|_| uid.as_str()).collect();
    assert!(matches!(
        c.move_to_division(&home, "USER", &ids).await,
        Err(Error::InvalidArgument(_))
    ));
    c.move_to_division(&home, "USER", &[uid.as_str()])
        .await
        .unwrap();
    emu.shutdown().await;
}
