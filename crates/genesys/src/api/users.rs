//! Users, user search, user state and external ids (`/api/v2/users...`).

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;

use crate::client::{GenesysClient, Req, Retry, seg};
use crate::error::Result;
use crate::models::{
    CreateUser, EntityListing, EntityState, SearchCriteria, SearchRequest, SearchResponse,
    UpdateUser, User, UserExternalIdentifier, UserState,
};

/// Filters of `GET /api/v2/users`.
#[derive(Debug, Clone, Default)]
pub struct ListUsers {
    /// Page size (default 100; the API accepts up to 500).
    pub page_size: Option<u32>,
    /// `active` (API default), `inactive`, `deleted` or `any`.
    pub state: Option<String>,
    /// `expand` values (repeated keys).
    pub expand: Vec<String>,
    /// At most 100 ids (repeated `id` keys).
    pub ids: Vec<String>,
}

// The API answers 400 `max.user.ids` beyond 100 ids.
fn too_many_ids() -> crate::Error {
    crate::Error::InvalidArgument("at most 100 user ids per listing".into())
}

fn users_request(opts: &ListUsers) -> Req {
    Req::get("users")
        .query_multi("id", &opts.ids)
        .query_multi("expand", &opts.expand)
        .query_opt("state", opts.state.as_deref())
}

impl GenesysClient {
    /// `POST /api/v2/users` (200). After an ambiguous failure the client searches the email
    /// before re-sending, so a user is never created twice.
    pub async fn create_user(&self, body: &CreateUser) -> Result<User> {
        let req = Req::new(Method::POST, "users").json(body)?;
        let email = body.email.clone();
        self.create_with_lookup(req, || self.find_user_by_email(&email))
            .await
    }

    /// `GET /api/v2/users/{id}` with `expand` values.
    pub async fn get_user(&self, id: &str, expand: &[&str]) -> Result<User> {
        self.call(Req::get(format!("users/{}", seg(id))).query_multi("expand", expand))
            .await
    }

    /// `GET /api/v2/users/{id}?state=deleted|active`: finds soft-deleted users too.
    pub async fn get_user_in_state(&self, id: &str, state: &str) -> Result<User> {
        self.call(Req::get(format!("users/{}", seg(id))).query("state", state))
            .await
    }

    /// `GET /api/v2/users` as a stream over all pages.
    pub fn list_users(&self, opts: ListUsers) -> BoxStream<'static, Result<User>> {
        if opts.ids.len() > 100 {
            return stream::once(async { Err(too_many_ids()) }).boxed();
        }
        self.paged(users_request(&opts), opts.page_size.unwrap_or(100))
    }

    /// One page of `GET /api/v2/users` (`page_number` counts from 1): the entities with
    /// `pageCount` and `total`, so a caller that read page 1 can fetch the others
    /// concurrently. A page past the end has no entities.
    pub async fn list_users_page(
        &self,
        opts: &ListUsers,
        page_number: u32,
    ) -> Result<EntityListing<User>> {
        if opts.ids.len() > 100 {
            return Err(too_many_ids());
        }
        if page_number == 0 {
            return Err(crate::Error::InvalidArgument(
                "page numbers start at 1".into(),
            ));
        }
        let req = users_request(opts)
            .query("pageSize", opts.page_size.unwrap_or(100).max(1))
            .query("pageNumber", page_number);
        self.call(req).await
    }

    /// `PATCH /api/v2/users/{id}`; a stale `version` gives [`crate::Error::VersionConflict`].
    pub async fn update_user(&self, id: &str, body: &UpdateUser) -> Result<User> {
        let req = Req::new(Method::PATCH, format!("users/{}", seg(id)))
            .json(body)?
            .retry(Retry::VersionGuarded);
        self.call(req).await
    }

    /// `DELETE /api/v2/users/{id}` (soft delete; 200 `{}`).
    pub async fn delete_user(&self, id: &str) -> Result<()> {
        self.call_empty(Req::new(Method::DELETE, format!("users/{}", seg(id))))
            .await
    }

    /// Restores a soft-deleted user: `PATCH {state: active, version}`.
    pub async fn restore_user(&self, id: &str, version: i64) -> Result<User> {
        self.update_user(
            id,
            &UpdateUser {
                version,
                state: Some(EntityState::Active),
                ..Default::default()
            },
        )
        .await
    }

    /// `GET /api/v2/users/{id}/state`.
    pub async fn get_user_state(&self, id: &str) -> Result<UserState> {
        self.call(Req::get(format!("users/{}/state", seg(id))))
            .await
    }

    /// `PUT /api/v2/users/{id}/state` (carries the version).
    pub async fn set_user_state(&self, id: &str, state: &UserState) -> Result<UserState> {
        let req = Req::new(Method::PUT, format!("users/{}/state", seg(id)))
            .json(state)?
            .retry(Retry::VersionGuarded);
        self.call(req).await
    }

    /// `POST /api/v2/users/search` (one page).
    pub async fn search_users(&self, body: &SearchRequest) -> Result<SearchResponse<User>> {
        let req = Req::new(Method::POST, "users/search")
            .json(body)?
            .retry(Retry::Safe);
        self.call(req).await
    }

    /// All results of a user search as a stream (pages by `pageNumber`).
    pub fn search_users_stream(&self, body: SearchRequest) -> BoxStream<'static, Result<User>> {
        let client = self.clone();
        stream::try_unfold(Some(1i64), move |page| {
            let client = client.clone();
            let mut body = body.clone();
            async move {
                let Some(page) = page else {
                    return Ok::<_, crate::Error>(None);
                };
                body.page_number = Some(page);
                if body.page_size.is_none() {
                    body.page_size = Some(100);
                }
                let r = client.search_users(&body).await?;
                let n = r.results.len();
                let more = n > 0 && r.page_count.is_some_and(|pc| page < pc);
                Ok(Some((r.results, more.then_some(page + 1))))
            }
        })
        .map_ok(|v| stream::iter(v.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    /// The non-deleted user whose email (= username) is `email`, if any.
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<User>> {
        let mut body = SearchRequest::new(vec![SearchCriteria::exact("email", email)]);
        body.page_size = Some(25);
        let r = self.search_users(&body).await?;
        Ok(r.results.into_iter().find(|u| {
            u.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
                && u.state != Some(EntityState::Deleted)
        }))
    }

    /// A soft-deleted user holding `email` (what to restore instead of creating).
    pub async fn find_deleted_user_by_email(&self, email: &str) -> Result<Option<User>> {
        let body = SearchRequest::new(vec![
            SearchCriteria::exact("email", email),
            SearchCriteria::exact_any("state", &["deleted"]),
        ]);
        let r = self.search_users(&body).await?;
        Ok(r.results.into_iter().find(|u| {
            u.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        }))
    }

    /// `GET /api/v2/users/{id}/externalid`.
    pub async fn list_external_ids(&self, user_id: &str) -> Result<Vec<UserExternalIdentifier>> {
        self.call(Req::get(format!("users/{}/externalid", seg(user_id))))
            .await
    }

    /// `POST /api/v2/users/{id}/externalid`; returns the user's external ids. Re-sent after an
    /// ambiguous failure only if the id is not there yet.
    pub async fn add_external_id(
        &self,
        user_id: &str,
        ext: &UserExternalIdentifier,
    ) -> Result<Vec<UserExternalIdentifier>> {
        let req = Req::new(Method::POST, format!("users/{}/externalid", seg(user_id))).json(ext)?;
        let user_id = user_id.to_string();
        let (auth, key) = (ext.authority_name.clone(), ext.external_key.clone());
        self.create_with_lookup(req, || {
            let (user_id, auth, key) = (user_id.clone(), auth.clone(), key.clone());
            async move {
                let list = self.list_external_ids(&user_id).await?;
                let present = list
                    .iter()
                    .any(|e| e.authority_name == auth && e.external_key == key);
                Ok(present.then_some(list))
            }
        })
        .await
    }

    /// `DELETE /api/v2/users/{id}/externalid/{authority}/{key}`.
    pub async fn delete_external_id(
        &self,
        user_id: &str,
        authority: &str,
        key: &str,
    ) -> Result<()> {
        self.call_empty(Req::new(
            Method::DELETE,
            format!(
                "users/{}/externalid/{}/{}",
                seg(user_id),
                seg(authority),
                seg(key)
            ),
        ))
        .await
    }

    /// `GET /api/v2/users/externalid/{authority}/{key}`.
    pub async fn get_user_by_external_id(&self, authority: &str, key: &str) -> Result<User> {
        self.call(Req::get(format!(
            "users/externalid/{}/{}",
            seg(authority),
            seg(key)
        )))
        .await
    }
}
