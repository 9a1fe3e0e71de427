//! Shared helpers: start an emulator on an ephemeral loopback port and point a client at it.

use std::time::Duration;

use gcprov_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use gcprov_genesys::{ClientConfig, GenesysClient, SecretString};
use url::Url;

/// An emulator without rate limit or faults.
pub async fn emulator() -> EmulatorHandle {
    emulator_with(|c| c.rate_limit_per_minute = None).await
}

pub async fn emulator_with(tune: impl FnOnce(&mut EmulatorConfig)) -> EmulatorHandle {
    let mut cfg = EmulatorConfig::default();
    tune(&mut cfg);
    Emulator::start(cfg).await.expect("emulator starts")
}

/// Client configuration for the emulator's admin client: both bases are the emulator URL
/// (what `GENESYS_API_URL` / `GENESYS_LOGIN_URL` do for the CLI); pacing off; short retries.
pub fn config(emu: &EmulatorHandle) -> ClientConfig {
    let base = Url::parse(&emu.base_url()).expect("emulator url");
    let mut cfg = ClientConfig::new(
        base.clone(),
        base,
        emu.admin_client_id(),
        SecretString::from(emu.admin_client_secret().to_string()),
    );
    cfg.rate_limit_per_minute = None;
    cfg.request_timeout = Duration::from_secs(10);
    cfg.retry.base_delay = Duration::from_millis(20);
    cfg.retry.max_delay = Duration::from_millis(500);
    cfg.retry.max_attempts = 10;
    cfg.retry.max_elapsed = Duration::from_secs(60);
    cfg
}

pub fn client(emu: &EmulatorHandle) -> GenesysClient {
    GenesysClient::new(config(emu)).expect("client")
}

pub fn client_with(emu: &EmulatorHandle, tune: impl FnOnce(&mut ClientConfig)) -> GenesysClient {
    let mut cfg = config(emu);
    tune(&mut cfg);
    GenesysClient::new(cfg).expect("client")
}

/// `GET /emulator/stats` over HTTP.
pub async fn stats(emu: &EmulatorHandle) -> serde_json::Value {
    reqwest::get(format!("{}/emulator/stats", emu.base_url()))
        .await
        .expect("stats")
        .json()
        .await
        .expect("stats json")
}

pub async fn reset_stats(emu: &EmulatorHandle) {
    reqwest::Client::new()
        .post(format!("{}/emulator/stats/reset", emu.base_url()))
        .send()
        .await
        .expect("reset stats");
}

/// Count of responses with `status` in the stats.
pub fn status_count(stats: &serde_json::Value, status: u16) -> u64 {
    stats["byStatus"][status.to_string()].as_u64().unwrap_or(0)
}

/// `PUT /emulator/faults` over HTTP.
pub async fn set_faults(emu: &EmulatorHandle, faults: serde_json::Value) {
    let r = reqwest::Client::new()
        .put(format!("{}/emulator/faults", emu.base_url()))
        .json(&faults)
        .send()
        .await
        .expect("set faults");
    assert!(
        r.status().is_success(),
        "faults rejected: {}",
        r.text().await.unwrap_or_default()
    );
}

pub async fn clear_faults(emu: &EmulatorHandle) {
    reqwest::Client::new()
        .delete(format!("{}/emulator/faults", emu.base_url()))
        .send()
        .await
        .expect("clear faults");
}

pub async fn revoke_all(emu: &EmulatorHandle) {
    reqwest::Client::new()
        .post(format!("{}/emulator/tokens/revoke-all", emu.base_url()))
        .send()
        .await
        .expect("revoke");
}

/// A unique-enough email for one test.
pub fn email(tag: &str, i: usize) -> String {
    format!(
        "{tag}.{i}.{}@example.test",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Faults injected so far (`GET /emulator/faults`).
pub async fn faults_injected(emu: &EmulatorHandle) -> u64 {
    let v: serde_json::Value = reqwest::get(format!("{}/emulator/faults", emu.base_url()))
        .await
        .expect("faults")
        .json()
        .await
        .expect("faults json");
    v["injected"].as_u64().unwrap_or(0)
}
