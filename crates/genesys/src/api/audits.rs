//! Audits (`POST /api/v2/audits/query/realtime`).

use reqwest::Method;

use crate::client::{GenesysClient, Req, Retry};
use crate::error::Result;
use crate::models::{AuditRealtimeQueryRequest, AuditRealtimeQueryResults};

impl GenesysClient {
    /// `POST /api/v2/audits/query/realtime` (a read; retried like a GET).
    pub async fn audit_realtime_query(
        &self,
        body: &AuditRealtimeQueryRequest,
    ) -> Result<AuditRealtimeQueryResults> {
        let req = Req::new(Method::POST, "audits/query/realtime")
            .json(body)?
            .retry(Retry::Safe);
        self.call(req).await
    }
}
