//! SCIM v2 users and groups of Genesys Cloud (`/api/v2/scim/v2/...`) with ETags.

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use reqwest::Method;
use reqwest::header::ETAG;

use crate::client::{GenesysClient, Req, Resp, Retry, decode, seg};
use crate::error::Result;
use crate::models::{ScimListResponse, ScimPatchRequest, ScimV2Group, ScimV2User};

/// A SCIM resource with its `ETag` (the quoted version, e.g. `"42"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub resource: T,
    pub etag: Option<String>,
}

/// Result of a conditional GET.
#[derive(Debug, Clone, PartialEq)]
pub enum Conditional<T> {
    /// 304: the `If-None-Match` ETag is current.
    NotModified,
    Modified(Versioned<T>),
}

/// SCIM page size (Genesys: more than 25 may hit resource limits).
pub const SCIM_PAGE_SIZE: u32 = 25;

fn etag_of(resp: &Resp, meta_version: Option<&str>) -> Option<String> {
    resp.headers
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| meta_version.map(str::to_string))
}

fn with_if_match(req: Req, etag: Option<&str>) -> Result<Req> {
    match etag {
        Some(e) => Ok(req.header("if-match", e)?.retry(Retry::VersionGuarded)),
        None => Ok(req),
    }
}

impl GenesysClient {
    async fn scim_user_call(&self, req: Req) -> Result<Versioned<ScimV2User>> {
        let resp = self.call_resp(req.clone()).await?;
        let user: ScimV2User = decode(&req, &resp)?;
        let etag = etag_of(&resp, user.meta.as_ref().and_then(|m| m.version.as_deref()));
        Ok(Versioned {
            resource: user,
            etag,
        })
    }

    async fn scim_group_call(&self, req: Req) -> Result<Versioned<ScimV2Group>> {
        let resp = self.call_resp(req.clone()).await?;
        let group: ScimV2Group = decode(&req, &resp)?;
        let etag = etag_of(
            &resp,
            group.meta.as_ref().and_then(|m| m.version.as_deref()),
        );
        Ok(Versioned {
            resource: group,
            etag,
        })
    }

    /// `GET /api/v2/scim/v2/users/{id}`, with `If-None-Match` when an ETag is given.
    pub async fn scim_get_user(
        &self,
        id: &str,
        if_none_match: Option<&str>,
    ) -> Result<Conditional<ScimV2User>> {
        let mut req = Req::get(format!("scim/v2/users/{}", seg(id))).scim();
        if let Some(e) = if_none_match {
            req = req.header("if-none-match", e)?;
        }
        let resp = self.call_resp(req.clone()).await?;
        if resp.status == 304 {
            return Ok(Conditional::NotModified);
        }
        let user: ScimV2User = decode(&req, &resp)?;
        let etag = etag_of(&resp, user.meta.as_ref().and_then(|m| m.version.as_deref()));
        Ok(Conditional::Modified(Versioned {
            resource: user,
            etag,
        }))
    }

    /// `GET /api/v2/scim/v2/users?filter=…` as a stream (`startIndex`/`count` paging).
    pub fn scim_list_users(&self, filter: Option<&str>) -> BoxStream<'static, Result<ScimV2User>> {
        self.scim_paged(Req::get("scim/v2/users").scim().query_opt("filter", filter))
    }

    /// `GET /api/v2/scim/v2/groups?filter=…` as a stream (the `/v2/` route requires a filter).
    pub fn scim_list_groups(&self, filter: &str) -> BoxStream<'static, Result<ScimV2Group>> {
        self.scim_paged(Req::get("scim/v2/groups").scim().query("filter", filter))
    }

    fn scim_paged<T>(&self, base: Req) -> BoxStream<'static, Result<T>>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        let client = self.clone();
        stream::try_unfold(Some(1i64), move |start| {
            let client = client.clone();
            let base = base.clone();
            async move {
                let Some(start) = start else {
                    return Ok::<_, crate::Error>(None);
                };
                let req = base
                    .query("startIndex", start)
                    .query("count", SCIM_PAGE_SIZE);
                let page: ScimListResponse<T> = client.call(req).await?;
                let n = page.resources.len() as i64;
                let next = start + n;
                let more = n > 0 && page.total_results.is_some_and(|t| next <= t);
                Ok(Some((page.resources, more.then_some(next))))
            }
        })
        .map_ok(|v| stream::iter(v.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    /// The SCIM user with `userName eq {user_name}`, if any.
    pub async fn scim_find_user(&self, user_name: &str) -> Result<Option<ScimV2User>> {
        let filter = format!("userName eq \"{}\"", user_name.replace('"', "\\\""));
        let page: ScimListResponse<ScimV2User> = self
            .call(
                Req::get("scim/v2/users")
                    .scim()
                    .query("filter", filter)
                    .query("count", SCIM_PAGE_SIZE),
            )
            .await?;
        Ok(page.resources.into_iter().find(|u| {
            u.user_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(user_name))
        }))
    }

    /// `POST /api/v2/scim/v2/users` (201), never duplicated on retry (looked up by userName).
    pub async fn scim_create_user(&self, body: &ScimV2User) -> Result<Versioned<ScimV2User>> {
        let req = Req::new(Method::POST, "scim/v2/users").scim().json(body)?;
        let user_name = body.user_name.clone().unwrap_or_default();
        let user: ScimV2User = self
            .create_with_lookup(req, || self.scim_find_user(&user_name))
            .await?;
        let etag = user.meta.as_ref().and_then(|m| m.version.clone());
        Ok(Versioned {
            resource: user,
            etag,
        })
    }

    /// `PUT /api/v2/scim/v2/users/{id}` with optional `If-Match`.
    pub async fn scim_replace_user(
        &self,
        id: &str,
        body: &ScimV2User,
        if_match: Option<&str>,
    ) -> Result<Versioned<ScimV2User>> {
        let req = Req::new(Method::PUT, format!("scim/v2/users/{}", seg(id)))
            .scim()
            .json(body)?;
        self.scim_user_call(with_if_match(req, if_match)?).await
    }

    /// `PATCH /api/v2/scim/v2/users/{id}` with optional `If-Match`. Without `If-Match` an
    /// ambiguous failure is not retried (a PATCH is not guaranteed idempotent).
    pub async fn scim_patch_user(
        &self,
        id: &str,
        patch: &ScimPatchRequest,
        if_match: Option<&str>,
    ) -> Result<Versioned<ScimV2User>> {
        let req = Req::new(Method::PATCH, format!("scim/v2/users/{}", seg(id)))
            .scim()
            .json(patch)?;
        self.scim_user_call(with_if_match(req, if_match)?).await
    }

    /// `DELETE /api/v2/scim/v2/users/{id}` (204) with optional `If-Match`.
    pub async fn scim_delete_user(&self, id: &str, if_match: Option<&str>) -> Result<()> {
        let req = Req::new(Method::DELETE, format!("scim/v2/users/{}", seg(id))).scim();
        let req = match if_match {
            Some(e) => req.header("if-match", e)?,
            None => req,
        };
        self.call_empty(req).await
    }

    /// `GET /api/v2/scim/v2/groups/{id}`, with `If-None-Match` when an ETag is given.
    pub async fn scim_get_group(
        &self,
        id: &str,
        if_none_match: Option<&str>,
    ) -> Result<Conditional<ScimV2Group>> {
        let mut req = Req::get(format!("scim/v2/groups/{}", seg(id))).scim();
        if let Some(e) = if_none_match {
            req = req.header("if-none-match", e)?;
        }
        let resp = self.call_resp(req.clone()).await?;
        if resp.status == 304 {
            return Ok(Conditional::NotModified);
        }
        let group: ScimV2Group = decode(&req, &resp)?;
        let etag = etag_of(
            &resp,
            group.meta.as_ref().and_then(|m| m.version.as_deref()),
        );
        Ok(Conditional::Modified(Versioned {
            resource: group,
            etag,
        }))
    }

    /// `PUT /api/v2/scim/v2/groups/{id}` with optional `If-Match`.
    pub async fn scim_replace_group(
        &self,
        id: &str,
        body: &ScimV2Group,
        if_match: Option<&str>,
    ) -> Result<Versioned<ScimV2Group>> {
        let req = Req::new(Method::PUT, format!("scim/v2/groups/{}", seg(id)))
            .scim()
            .json(body)?;
        self.scim_group_call(with_if_match(req, if_match)?).await
    }

    /// `PATCH /api/v2/scim/v2/groups/{id}` with optional `If-Match`.
    pub async fn scim_patch_group(
        &self,
        id: &str,
        patch: &ScimPatchRequest,
        if_match: Option<&str>,
    ) -> Result<Versioned<ScimV2Group>> {
        let req = Req::new(Method::PATCH, format!("scim/v2/groups/{}", seg(id)))
            .scim()
            .json(patch)?;
        self.scim_group_call(with_if_match(req, if_match)?).await
    }
}
