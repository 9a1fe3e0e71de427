//! Directory groups and their members (`/api/v2/groups...`).

use futures::stream::BoxStream;
use reqwest::Method;

use crate::client::{GenesysClient, Req, Retry, seg};
use crate::error::{Error, Result};
use crate::models::{
    Group, GroupCreate, GroupMembersUpdate, GroupUpdate, SearchCriteria, SearchRequest,
    SearchResponse, User,
};

/// Member ids per add/remove call (API limit).
pub const GROUP_MEMBER_CHUNK: usize = 50;

impl GenesysClient {
    /// `POST /api/v2/groups` (200), never duplicated on retry (looked up by exact name).
    pub async fn create_group(&self, body: &GroupCreate) -> Result<Group> {
        let req = Req::new(Method::POST, "groups").json(body)?;
        self.create_with_lookup(req, || self.find_group_by_name(&body.name))
            .await
    }

    /// `GET /api/v2/groups/{id}`.
    pub async fn get_group(&self, id: &str) -> Result<Group> {
        self.call(Req::get(format!("groups/{}", seg(id)))).await
    }

    /// `GET /api/v2/groups` as a stream.
    pub fn list_groups(&self) -> BoxStream<'static, Result<Group>> {
        self.paged(Req::get("groups"), 100)
    }

    /// `POST /api/v2/groups/search` (one page).
    pub async fn search_groups(&self, body: &SearchRequest) -> Result<SearchResponse<Group>> {
        let req = Req::new(Method::POST, "groups/search")
            .json(body)?
            .retry(Retry::Safe);
        self.call(req).await
    }

    /// The group named exactly `name`, if any.
    pub async fn find_group_by_name(&self, name: &str) -> Result<Option<Group>> {
        let r = self
            .search_groups(&SearchRequest::new(vec![SearchCriteria::exact(
                "name", name,
            )]))
            .await?;
        Ok(r.results
            .into_iter()
            .find(|g| g.name.as_deref() == Some(name)))
    }

    /// `PUT /api/v2/groups/{id}` (version required; stale → [`Error::VersionConflict`]).
    pub async fn update_group(&self, id: &str, body: &GroupUpdate) -> Result<Group> {
        let req = Req::new(Method::PUT, format!("groups/{}", seg(id)))
            .json(body)?
            .retry(Retry::VersionGuarded);
        self.call(req).await
    }

    /// `DELETE /api/v2/groups/{id}`.
    pub async fn delete_group(&self, id: &str) -> Result<()> {
        self.call_empty(Req::new(Method::DELETE, format!("groups/{}", seg(id))))
            .await
    }

    /// `GET /api/v2/groups/{id}/members` as a stream.
    pub fn list_group_members(&self, group_id: &str) -> BoxStream<'static, Result<User>> {
        self.paged(Req::get(format!("groups/{}/members", seg(group_id))), 100)
    }

    /// `GET /api/v2/groups/{id}/individuals` (directly added members, one page listing).
    pub fn list_group_individuals(&self, group_id: &str) -> BoxStream<'static, Result<User>> {
        self.paged(
            Req::get(format!("groups/{}/individuals", seg(group_id))),
            100,
        )
    }

    /// `POST /api/v2/groups/{id}/members` with at most 50 ids and the current group version
    /// (202). A stale version gives [`Error::VersionConflict`].
    pub async fn add_group_members_versioned(
        &self,
        group_id: &str,
        member_ids: &[&str],
        version: i64,
    ) -> Result<()> {
        if member_ids.len() > GROUP_MEMBER_CHUNK {
            return Err(Error::InvalidArgument(format!(
                "at most {GROUP_MEMBER_CHUNK} member ids per call"
            )));
        }
        let body = GroupMembersUpdate {
            member_ids: member_ids.iter().map(|s| s.to_string()).collect(),
            version,
        };
        let req = Req::new(Method::POST, format!("groups/{}/members", seg(group_id)))
            .json(&body)?
            .retry(Retry::VersionGuarded);
        self.call_empty(req).await
    }

    /// Adds any number of members in chunks of 50, reading the group's current version
    /// before each chunk (the version changes after every membership update). A version
    /// conflict (a concurrent writer) is resolved by re-reading, at most 3 times per chunk.
    pub async fn add_group_members(&self, group_id: &str, member_ids: &[&str]) -> Result<()> {
        for chunk in member_ids.chunks(GROUP_MEMBER_CHUNK) {
            let mut tries = 0;
            loop {
                tries += 1;
                let version = self.get_group(group_id).await?.version.unwrap_or(0);
                match self
                    .add_group_members_versioned(group_id, chunk, version)
                    .await
                {
                    Ok(()) => break,
                    Err(e) if e.is_version_conflict() && tries < 3 => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// `DELETE /api/v2/groups/{id}/members?ids=a,b` (comma-joined, 50 per call; 202).
    pub async fn remove_group_members(&self, group_id: &str, member_ids: &[&str]) -> Result<()> {
        for chunk in member_ids.chunks(GROUP_MEMBER_CHUNK) {
            let req = Req::new(Method::DELETE, format!("groups/{}/members", seg(group_id)))
                .query("ids", chunk.join(","));
            self.call_empty(req).await?;
        }
        Ok(())
    }
}
