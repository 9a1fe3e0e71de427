//! OAuth client governance (`/api/v2/oauth/...`).

use reqwest::Method;

use crate::client::{GenesysClient, Req, Retry, seg};
use crate::error::Result;
use crate::models::{
    EntityListing, OAuthClient, OAuthClientRequest, OAuthClientState, OAuthScopeListing,
};

impl GenesysClient {
    /// `GET /api/v2/oauth/clients` (the API has no paging parameters here).
    pub async fn list_oauth_clients(&self) -> Result<Vec<OAuthClient>> {
        let page: EntityListing<OAuthClient> = self.call(Req::get("oauth/clients")).await?;
        Ok(page.entities)
    }

    /// `POST /api/v2/oauth/clients` (200, includes the `secret`). After an ambiguous failure
    /// the client looks for a client with the same name and grant type before re-sending.
    pub async fn create_oauth_client(&self, body: &OAuthClientRequest) -> Result<OAuthClient> {
        let req = Req::new(Method::POST, "oauth/clients").json(body)?;
        self.create_with_lookup(req, || async {
            let all = self.list_oauth_clients().await?;
            Ok(all.into_iter().find(|c| {
                c.name.as_deref() == Some(body.name.as_str())
                    && c.authorized_grant_type.as_ref() == Some(&body.authorized_grant_type)
            }))
        })
        .await
    }

    /// `GET /api/v2/oauth/clients/{id}`.
    pub async fn get_oauth_client(&self, id: &str) -> Result<OAuthClient> {
        self.call(Req::get(format!("oauth/clients/{}", seg(id))))
            .await
    }

    /// `PUT /api/v2/oauth/clients/{id}` (full replace).
    pub async fn update_oauth_client(
        &self,
        id: &str,
        body: &OAuthClientRequest,
    ) -> Result<OAuthClient> {
        let req = Req::new(Method::PUT, format!("oauth/clients/{}", seg(id))).json(body)?;
        self.call(req).await
    }

    /// Changes the state (`active`, `disabled`, `inactive`) with a read-modify-write PUT.
    pub async fn set_oauth_client_state(
        &self,
        id: &str,
        state: OAuthClientState,
    ) -> Result<OAuthClient> {
        let current = self.get_oauth_client(id).await?;
        let mut body = current.to_request();
        body.state = Some(state);
        self.update_oauth_client(id, &body).await
    }

    /// `DELETE /api/v2/oauth/clients/{id}` (Genesys' Terraform provider sets the state to
    /// `inactive` first; see [`GenesysClient::set_oauth_client_state`]).
    pub async fn delete_oauth_client(&self, id: &str) -> Result<()> {
        self.call_empty(Req::new(
            Method::DELETE,
            format!("oauth/clients/{}", seg(id)),
        ))
        .await
    }

    /// `POST /api/v2/oauth/clients/{id}/secret`: a new secret. Retried after an ambiguous
    /// failure: a second regeneration only replaces a secret nobody has seen, and the
    /// secret returned last is the valid one.
    pub async fn regenerate_oauth_client_secret(&self, id: &str) -> Result<OAuthClient> {
        let req =
            Req::new(Method::POST, format!("oauth/clients/{}/secret", seg(id))).retry(Retry::Safe);
        self.call(req).await
    }

    /// `GET /api/v2/oauth/scopes` (the scope catalogue).
    pub async fn list_oauth_scopes(&self) -> Result<OAuthScopeListing> {
        self.call(Req::get("oauth/scopes")).await
    }
}
