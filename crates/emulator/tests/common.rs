#![allow(dead_code)]

use gcprov_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use reqwest::{Client, Method, Response};
use serde_json::Value;

pub struct Ctx {
    pub emu: EmulatorHandle,
    pub http: Client,
    pub token: String,
}

impl Ctx {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.emu.base_url(), path)
    }
    pub async fn req(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut r = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.expect("request")
    }
    pub async fn get(&self, path: &str) -> Response {
        self.req(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.req(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.req(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.req(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Response {
        self.req(Method::DELETE, path, None).await
    }
    /// Create an active user and return its JSON.
    pub async fn user(&self, name: &str, email: &str) -> Value {
        let r = self
            .post(
                "/api/v2/users",
                serde_json::json!({"name": name, "email": email, "state": "active"}),
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

pub async fn login(http: &Client, base: &str, id: &str, secret: &str) -> Response {
    http.post(format!("{base}/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("login")
}

pub async fn token(http: &Client, base: &str, id: &str, secret: &str) -> String {
    let r = login(http, base, id, secret).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

pub async fn start_with(mut config: EmulatorConfig) -> Ctx {
    config.rate_limit_per_minute = config.rate_limit_per_minute.or(None);
    let emu = Emulator::start(config).await.expect("start");
    let http = Client::new();
    let token = token(
        &http,
        &emu.base_url(),
        emu.admin_client_id(),
        emu.admin_client_secret(),
    )
    .await;
    Ctx { emu, http, token }
}

/// An emulator without rate limit (tests that count calls enable it explicitly).
pub async fn start() -> Ctx {
    start_with(EmulatorConfig {
        rate_limit_per_minute: None,
        ..Default::default()
    })
    .await
}

pub async fn json(r: Response) -> Value {
    r.json().await.expect("json body")
}

pub fn corr(r: &Response) -> String {
    r.headers()
        .get("ININ-Correlation-Id")
        .expect("correlation id")
        .to_str()
        .unwrap()
        .to_owned()
}
