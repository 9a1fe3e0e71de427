//! Divisions, roles and role/division grants (`/api/v2/authorization/...`, user roles).

use futures::stream::BoxStream;
use reqwest::Method;

use crate::client::{GenesysClient, Req, Retry, seg};
use crate::error::Result;
use crate::models::{
    AuthzDivision, AuthzSubject, EntityListing, OrganizationRole, RoleDivisionGrants,
    RoleDivisionPair, SubjectDivisionGrants, SubjectType, UserAuthorization,
};

/// Page size of `GET …/roles/{roleId}/subjectgrants`. The reference gives only the default
/// (25); the maximum is not published, so this stays at 100, the size every other
/// authorization listing of this client uses, rather than risk a 400 with 500.
pub const SUBJECT_GRANTS_PAGE_SIZE: u32 = 100;

/// Most object ids per `POST …/divisions/{divisionId}/objects/{objectType}`. The reference
/// gives no limit (the body is a plain list of ids); 50 is a conservative choice, the
/// documented limit of the comparable group-membership batch.
pub const DIVISION_OBJECT_CHUNK: usize = 50;

impl GenesysClient {
    /// `GET /api/v2/authorization/divisions` as a stream.
    pub fn list_divisions(&self) -> BoxStream<'static, Result<AuthzDivision>> {
        self.paged(Req::get("authorization/divisions"), 100)
    }

    /// `GET /api/v2/authorization/divisions/home`.
    pub async fn get_home_division(&self) -> Result<AuthzDivision> {
        self.call(Req::get("authorization/divisions/home")).await
    }

    /// `GET /api/v2/authorization/divisions/{id}`.
    pub async fn get_division(&self, id: &str) -> Result<AuthzDivision> {
        self.call(Req::get(format!("authorization/divisions/{}", seg(id))))
            .await
    }

    /// `GET /api/v2/authorization/roles` (optionally filtered by `name`) as a stream.
    pub fn list_roles(&self, name: Option<&str>) -> BoxStream<'static, Result<OrganizationRole>> {
        self.paged(Req::get("authorization/roles").query_opt("name", name), 100)
    }

    /// `GET /api/v2/authorization/roles/{roleId}/subjectgrants` as a stream: every subject
    /// (users and groups) holding the role, each with the divisions it holds the role in.
    pub fn list_role_subject_grants(
        &self,
        role_id: &str,
    ) -> BoxStream<'static, Result<SubjectDivisionGrants>> {
        self.paged(
            Req::get(format!(
                "authorization/roles/{}/subjectgrants",
                seg(role_id)
            )),
            SUBJECT_GRANTS_PAGE_SIZE,
        )
    }

    /// One page of `GET …/roles/{roleId}/subjectgrants` (`page_number` from 1, page size
    /// [`SUBJECT_GRANTS_PAGE_SIZE`]), with `pageCount`, so the other pages can be read
    /// concurrently.
    pub async fn list_role_subject_grants_page(
        &self,
        role_id: &str,
        page_number: u32,
    ) -> Result<EntityListing<SubjectDivisionGrants>> {
        if page_number == 0 {
            return Err(crate::Error::InvalidArgument(
                "page numbers start at 1".into(),
            ));
        }
        self.call(
            Req::get(format!(
                "authorization/roles/{}/subjectgrants",
                seg(role_id)
            ))
            .query("pageSize", SUBJECT_GRANTS_PAGE_SIZE)
            .query("pageNumber", page_number),
        )
        .await
    }

    /// `POST /api/v2/authorization/divisions/{divisionId}/objects/{objectType}` (204): moves
    /// the objects (all of one type, e.g. `USER`) into the division. Setting a division is
    /// idempotent, so it is retried. At most [`DIVISION_OBJECT_CHUNK`] ids per call.
    pub async fn move_to_division(
        &self,
        division_id: &str,
        object_type: &str,
        object_ids: &[&str],
    ) -> Result<()> {
        if object_ids.is_empty() || object_ids.len() > DIVISION_OBJECT_CHUNK {
            return Err(crate::Error::InvalidArgument(format!(
                "between 1 and {DIVISION_OBJECT_CHUNK} object ids per division move"
            )));
        }
        let req = Req::new(
            Method::POST,
            format!(
                "authorization/divisions/{}/objects/{}",
                seg(division_id),
                seg(object_type)
            ),
        )
        .json(object_ids)?
        .retry(Retry::Safe);
        self.call_empty(req).await
    }

    /// `GET /api/v2/users/{id}/roles`.
    pub async fn get_user_roles(&self, user_id: &str) -> Result<UserAuthorization> {
        self.call(Req::get(format!("users/{}/roles", seg(user_id))))
            .await
    }

    /// `PUT /api/v2/users/{id}/roles`: sets the user's roles (home division).
    pub async fn set_user_roles(
        &self,
        user_id: &str,
        role_ids: &[&str],
    ) -> Result<UserAuthorization> {
        let req = Req::new(Method::PUT, format!("users/{}/roles", seg(user_id))).json(role_ids)?;
        self.call(req).await
    }

    /// `GET /api/v2/authorization/subjects/{id}` (grants of a user or group).
    pub async fn get_subject(&self, subject_id: &str) -> Result<AuthzSubject> {
        self.call(Req::get(format!(
            "authorization/subjects/{}",
            seg(subject_id)
        )))
        .await
    }

    /// `POST …/subjects/{id}/bulkadd` (204). Adding grants is idempotent, so it is retried.
    pub async fn add_grants(
        &self,
        subject_id: &str,
        subject_type: SubjectType,
        grants: &[RoleDivisionPair],
    ) -> Result<()> {
        self.grants_op(subject_id, "bulkadd", Some(subject_type), grants)
            .await
    }

    /// `POST …/subjects/{id}/bulkremove` (204; idempotent).
    pub async fn remove_grants(&self, subject_id: &str, grants: &[RoleDivisionPair]) -> Result<()> {
        self.grants_op(subject_id, "bulkremove", None, grants).await
    }

    /// `POST …/subjects/{id}/bulkreplace` (204; idempotent). Grants inherited from groups stay.
    pub async fn replace_grants(
        &self,
        subject_id: &str,
        subject_type: SubjectType,
        grants: &[RoleDivisionPair],
    ) -> Result<()> {
        self.grants_op(subject_id, "bulkreplace", Some(subject_type), grants)
            .await
    }

    async fn grants_op(
        &self,
        subject_id: &str,
        op: &str,
        subject_type: Option<SubjectType>,
        grants: &[RoleDivisionPair],
    ) -> Result<()> {
        let body = RoleDivisionGrants {
            grants: grants.to_vec(),
        };
        let req = Req::new(
            Method::POST,
            format!("authorization/subjects/{}/{op}", seg(subject_id)),
        )
        .query_opt("subjectType", subject_type.as_ref().map(|s| s.as_str()))
        .json(&body)?
        .retry(Retry::Safe);
        self.call_empty(req).await
    }
}
