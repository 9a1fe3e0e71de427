use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use gcprov_store::OutboxEvent;

/// What every sink sends: the event and where it came from, serialised once.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub id: Uuid,
    pub kind: String,
    pub audit_seq: i64,
    pub created_at: time::OffsetDateTime,
    pub payload: Value,
    /// The JSON body: `{"id","kind","audit_seq","created_at","payload"}`.
    pub body: Vec<u8>,
}

#[derive(Serialize)]
struct Wire<'a> {
    id: String,
    kind: &'a str,
    audit_seq: i64,
    created_at: String,
    payload: &'a Value,
}

impl Envelope {
    pub fn from_event(ev: &OutboxEvent) -> Result<Envelope, serde_json::Error> {
        let created_at = gcprov_store::from_us(ev.created_us);
        let wire = Wire {
            id: ev.id.to_string(),
            kind: &ev.kind,
            audit_seq: ev.audit_seq,
            created_at: created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            payload: &ev.payload,
        };
        let body = serde_json::to_vec(&wire)?;
        Ok(Envelope {
            id: ev.id,
            kind: ev.kind.clone(),
            audit_seq: ev.audit_seq,
            created_at,
            payload: ev.payload.clone(),
            body,
        })
    }

    /// The envelope as a JSON value (for sinks that wrap it).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}
