//! Routing: skill and language catalogues, per-user skills/languages (bulk, 50 per call),
//! queue membership.

use futures::stream::BoxStream;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{GenesysClient, Req, Retry, seg};
use crate::error::Result;
use crate::models::{
    CreateRoutingSkill, EntityListing, Language, QueueMember, RoutingSkill, UserQueue,
    UserRoutingLanguage, UserRoutingLanguagePost, UserRoutingSkill, UserRoutingSkillPost,
    WritableEntity,
};

/// Items per bulk skill/language call (API limit).
pub const ROUTING_BULK_CHUNK: usize = 50;
/// Members per queue membership call (API limit).
pub const QUEUE_MEMBER_CHUNK: usize = 100;

impl GenesysClient {
    // ------------------------------------------------------------ catalogues

    /// `GET /api/v2/routing/skills` (optionally `name` = starts-with) as a stream.
    pub fn list_skills(&self, name: Option<&str>) -> BoxStream<'static, Result<RoutingSkill>> {
        self.paged(Req::get("routing/skills").query_opt("name", name), 100)
    }

    /// `GET /api/v2/routing/skills/{id}`.
    pub async fn get_skill(&self, id: &str) -> Result<RoutingSkill> {
        self.call(Req::get(format!("routing/skills/{}", seg(id))))
            .await
    }

    /// The skill named exactly `name` (case-sensitive), if any.
    pub async fn find_skill_by_name(&self, name: &str) -> Result<Option<RoutingSkill>> {
        let page: EntityListing<RoutingSkill> = self
            .call(
                Req::get("routing/skills")
                    .query("name", name)
                    .query("pageSize", 100),
            )
            .await?;
        Ok(page
            .entities
            .into_iter()
            .find(|s| s.name.as_deref() == Some(name)))
    }

    /// `POST /api/v2/routing/skills`, never duplicated on retry (looked up by name).
    pub async fn create_skill(&self, body: &CreateRoutingSkill) -> Result<RoutingSkill> {
        let req = Req::new(Method::POST, "routing/skills").json(body)?;
        self.create_with_lookup(req, || self.find_skill_by_name(&body.name))
            .await
    }

    /// `DELETE /api/v2/routing/skills/{id}`.
    pub async fn delete_skill(&self, id: &str) -> Result<()> {
        self.call_empty(Req::new(
            Method::DELETE,
            format!("routing/skills/{}", seg(id)),
        ))
        .await
    }

    /// `GET /api/v2/routing/languages` as a stream.
    pub fn list_languages(&self, name: Option<&str>) -> BoxStream<'static, Result<Language>> {
        self.paged(Req::get("routing/languages").query_opt("name", name), 100)
    }

    /// The language named exactly `name`, if any.
    pub async fn find_language_by_name(&self, name: &str) -> Result<Option<Language>> {
        let page: EntityListing<Language> = self
            .call(
                Req::get("routing/languages")
                    .query("name", name)
                    .query("pageSize", 100),
            )
            .await?;
        Ok(page
            .entities
            .into_iter()
            .find(|s| s.name.as_deref() == Some(name)))
    }

    /// `POST /api/v2/routing/languages`, never duplicated on retry.
    pub async fn create_language(&self, name: &str) -> Result<Language> {
        let req = Req::new(Method::POST, "routing/languages")
            .json(&serde_json::json!({ "name": name }))?;
        self.create_with_lookup(req, || self.find_language_by_name(name))
            .await
    }

    /// `DELETE /api/v2/routing/languages/{id}`.
    pub async fn delete_language(&self, id: &str) -> Result<()> {
        self.call_empty(Req::new(
            Method::DELETE,
            format!("routing/languages/{}", seg(id)),
        ))
        .await
    }

    // ------------------------------------------------------------ per-user skills

    /// `GET /api/v2/users/{id}/routingskills` as a stream.
    pub fn list_user_skills(&self, user_id: &str) -> BoxStream<'static, Result<UserRoutingSkill>> {
        self.paged(
            Req::get(format!("users/{}/routingskills", seg(user_id))),
            100,
        )
    }

    /// Adds or updates skills (`PATCH …/routingskills/bulk`, merge), 50 per call. Re-sending
    /// a merge is harmless, so it is retried.
    pub async fn add_user_skills(
        &self,
        user_id: &str,
        skills: &[UserRoutingSkillPost],
    ) -> Result<Vec<UserRoutingSkill>> {
        self.bulk_merge(
            &format!("users/{}/routingskills/bulk", seg(user_id)),
            skills,
        )
        .await
    }

    /// Replaces all skills (`PUT …/routingskills/bulk` with the first 50, then merges the
    /// rest in chunks of 50). An empty list removes every skill.
    pub async fn replace_user_skills(
        &self,
        user_id: &str,
        skills: &[UserRoutingSkillPost],
    ) -> Result<Vec<UserRoutingSkill>> {
        let first = &skills[..skills.len().min(ROUTING_BULK_CHUNK)];
        let req = Req::new(
            Method::PUT,
            format!("users/{}/routingskills/bulk", seg(user_id)),
        )
        .json(first)?;
        let page: EntityListing<UserRoutingSkill> = self.call(req).await?;
        if skills.len() > ROUTING_BULK_CHUNK {
            return self
                .add_user_skills(user_id, &skills[ROUTING_BULK_CHUNK..])
                .await;
        }
        Ok(page.entities)
    }

    /// `DELETE /api/v2/users/{id}/routingskills/{skillId}`.
    pub async fn remove_user_skill(&self, user_id: &str, skill_id: &str) -> Result<()> {
        self.call_empty(Req::new(
            Method::DELETE,
            format!("users/{}/routingskills/{}", seg(user_id), seg(skill_id)),
        ))
        .await
    }

    /// `GET /api/v2/users/{id}/routinglanguages` as a stream.
    pub fn list_user_languages(
        &self,
        user_id: &str,
    ) -> BoxStream<'static, Result<UserRoutingLanguage>> {
        self.paged(
            Req::get(format!("users/{}/routinglanguages", seg(user_id))),
            100,
        )
    }

    /// Adds or updates languages (`PATCH …/routinglanguages/bulk`), 50 per call.
    pub async fn add_user_languages(
        &self,
        user_id: &str,
        languages: &[UserRoutingLanguagePost],
    ) -> Result<Vec<UserRoutingLanguage>> {
        self.bulk_merge(
            &format!("users/{}/routinglanguages/bulk", seg(user_id)),
            languages,
        )
        .await
    }

    /// `DELETE /api/v2/users/{id}/routinglanguages/{languageId}`.
    pub async fn remove_user_language(&self, user_id: &str, language_id: &str) -> Result<()> {
        self.call_empty(Req::new(
            Method::DELETE,
            format!(
                "users/{}/routinglanguages/{}",
                seg(user_id),
                seg(language_id)
            ),
        ))
        .await
    }

    // ------------------------------------------------------------ queues

    /// `GET /api/v2/routing/queues` (optionally `name`) as a stream.
    pub fn list_queues(&self, name: Option<&str>) -> BoxStream<'static, Result<UserQueue>> {
        self.paged(Req::get("routing/queues").query_opt("name", name), 100)
    }

    /// `GET /api/v2/routing/queues/{id}/members` as a stream (page size 100, the API max).
    pub fn list_queue_members(&self, queue_id: &str) -> BoxStream<'static, Result<QueueMember>> {
        self.paged(
            Req::get(format!("routing/queues/{}/members", seg(queue_id))),
            100,
        )
    }

    /// Adds users to a queue (`POST …/members?delete=false`, 100 per call; idempotent).
    pub async fn add_queue_members(&self, queue_id: &str, user_ids: &[&str]) -> Result<()> {
        self.queue_members(queue_id, user_ids, false).await
    }

    /// Removes users from a queue (`POST …/members?delete=true`, 100 per call; idempotent).
    pub async fn remove_queue_members(&self, queue_id: &str, user_ids: &[&str]) -> Result<()> {
        self.queue_members(queue_id, user_ids, true).await
    }

    async fn queue_members(&self, queue_id: &str, user_ids: &[&str], delete: bool) -> Result<()> {
        for chunk in user_ids.chunks(QUEUE_MEMBER_CHUNK) {
            let body: Vec<WritableEntity> = chunk
                .iter()
                .map(|id| WritableEntity { id: id.to_string() })
                .collect();
            let req = Req::new(
                Method::POST,
                format!("routing/queues/{}/members", seg(queue_id)),
            )
            .query("delete", delete)
            .json(&body)?
            .retry(Retry::Safe);
            self.call_empty(req).await?;
        }
        Ok(())
    }

    /// `GET /api/v2/users/{id}/queues` as a stream.
    pub fn list_user_queues(&self, user_id: &str) -> BoxStream<'static, Result<UserQueue>> {
        self.paged(Req::get(format!("users/{}/queues", seg(user_id))), 100)
    }

    /// `PATCH /api/v2/users/{id}/queues`: join/unjoin queues the user is a member of.
    pub async fn set_user_queues_joined(
        &self,
        user_id: &str,
        queues: &[(&str, bool)],
    ) -> Result<Vec<UserQueue>> {
        let body: Vec<serde_json::Value> = queues
            .iter()
            .map(|(id, joined)| serde_json::json!({ "id": id, "joined": joined }))
            .collect();
        let req = Req::new(Method::PATCH, format!("users/{}/queues", seg(user_id)))
            .json(&body)?
            .retry(Retry::Safe);
        let page: EntityListing<UserQueue> = self.call(req).await?;
        Ok(page.entities)
    }
}

impl GenesysClient {
    /// `PATCH` of a `…/bulk` path (merge), `ROUTING_BULK_CHUNK` items per call. Re-sending a
    /// merge is harmless, so it is retried. Returns the entities of the last answer.
    async fn bulk_merge<P: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        items: &[P],
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for chunk in items.chunks(ROUTING_BULK_CHUNK) {
            let req = Req::new(Method::PATCH, path)
                .json(chunk)?
                .retry(Retry::Safe);
            let page: EntityListing<T> = self.call(req).await?;
            out = page.entities;
        }
        Ok(out)
    }
}
