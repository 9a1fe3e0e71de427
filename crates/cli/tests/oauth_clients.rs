//! `gcprov oauth-clients` end to end: the real binary against the emulator, secrets delivered
//! to 0600 files, debug logging on, and the secret searched for in every output.

use std::path::Path;
use std::process::{Command, Output};

use gcprov_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Seed};

const SEED: &str = r#"
divisions = [{ name = "Home", home = true }]
roles = [
  { name = "Analytics Reader", permissions = ["analytics:conversationDetail:view"] },
  { name = "Analytics Writer", permissions = ["analytics:conversationDetail:view", "analytics:reportingSettings:edit"] },
]
"#;

fn config(secrets_dir: &Path) -> String {
    format!(
        r#"
[profiles.reporting]
scopes = ["analytics:readonly"]
permissions = ["analytics:*:view"]

[sink]
kind = "file"
dir = "{}"
"#,
        secrets_dir.display()
    )
}

struct Ctx {
    emu: EmulatorHandle,
    dir: tempfile::TempDir,
}

impl Ctx {
    fn run(&self, config: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_gcprov"))
            .arg("oauth-clients")
            .args(args)
            .env("GENESYS_CLIENT_ID", self.emu.admin_client_id())
            .env("GENESYS_CLIENT_SECRET", self.emu.admin_client_secret())
            .env("GENESYS_API_URL", self.emu.base_url())
            .env_remove("GENESYS_REGION")
            .env_remove("GCPROV_DATABASE_URL")
            .env("GCPROV_DATA_DIR", self.dir.path().join("data"))
            .env("GCPROV_OAUTH_CONFIG", config)
            .env("GCPROV_LOG", "debug")
            .output()
            .expect("run gcprov")
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn secrets_in(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.path()).expect("read")).expect("json");
        out.push(v["client_secret"].as_str().unwrap_or_default().to_string());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_clients_commands_end_to_end_without_leaking_the_secret() {
    let emu = Emulator::start(EmulatorConfig {
        rate_limit_per_minute: None,
        seed: Some(Seed::from_toml_str(SEED).expect("seed")),
        ..Default::default()
    })
    .await
    .expect("emulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).expect("mkdir");
    let cfg = dir.path().join("oauth.toml");
    std::fs::write(&cfg, config(&secrets)).expect("config");
    let ctx = Ctx { emu, dir };
    let mut all = String::new();

    // Validation error: names the field, creates nothing.
    let o = ctx.run(
        &cfg,
        &[
            "create",
            "--name",
            "cli-app",
            "--grant-type",
            "CLIENT_CREDENTIALS",
            "--profile",
            "reporting",
            "--role",
            "Analytics Reader@Home",
        ],
    );
    all.push_str(&text(&o));
    assert!(!o.status.success());
    assert!(text(&o).contains("grant_type"), "{}", text(&o));

    // Least privilege: blocked, then allowed with a reason.
    let o = ctx.run(
        &cfg,
        &[
            "create",
            "--name",
            "cli-writer",
            "--grant-type",
            "CLIENT-CREDENTIALS",
            "--profile",
            "reporting",
            "--role",
            "Analytics Writer",
        ],
    );
    all.push_str(&text(&o));
    assert!(!o.status.success());
    assert!(
        text(&o).contains("analytics:reportingSettings:edit"),
        "{}",
        text(&o)
    );

    // create
    let o = ctx.run(
        &cfg,
        &[
            "create",
            "--name",
            "cli-app",
            "--grant-type",
            "CLIENT-CREDENTIALS",
            "--profile",
            "reporting",
            "--role",
            "Analytics Reader@Home",
            "--token-lifetime",
            "3600",
        ],
    );
    all.push_str(&text(&o));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("created OAuth client cli-app"));
    assert_eq!(secrets_in(&secrets).len(), 1);

    // --reveal without a terminal is refused before anything is regenerated.
    let o = ctx.run(&cfg, &["rotate-secret", "cli-app", "--reveal"]);
    all.push_str(&text(&o));
    assert!(!o.status.success());
    assert!(text(&o).contains("only to a terminal"), "{}", text(&o));

    // rotate
    let o = ctx.run(&cfg, &["rotate-secret", "cli-app"]);
    all.push_str(&text(&o));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(secrets_in(&secrets).len(), 2);

    // list / show / audit as JSON
    let o = ctx.run(&cfg, &["list", "--format", "json"]);
    all.push_str(&text(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).expect("list json");
    assert!(
        list.as_array()
            .is_some_and(|a| a.iter().any(|c| c["name"] == "cli-app"))
    );
    let o = ctx.run(&cfg, &["show", "cli-app"]);
    all.push_str(&text(&o));
    assert!(text(&o).contains("Analytics Reader"), "{}", text(&o));
    let o = ctx.run(&cfg, &["audit", "--format", "json", "--unused-days", "30"]);
    all.push_str(&text(&o));
    let audit: serde_json::Value = serde_json::from_slice(&o.stdout).expect("audit json");
    assert!(
        audit["usage_note"]
            .as_str()
            .is_some_and(|n| n.contains("usage unknown"))
    );
    let o = ctx.run(&cfg, &["audit", "--fail-on-findings"]);
    all.push_str(&text(&o));
    assert!(
        !o.status.success(),
        "the emulator admin client exceeds every baseline"
    );

    // A failed delivery: the client exists, the secret is lost, the user is told what to do.
    let broken = ctx.dir.path().join("broken.toml");
    std::fs::write(&broken, config(&ctx.dir.path().join("missing-dir"))).expect("write");
    let o = ctx.run(
        &broken,
        &[
            "create",
            "--name",
            "cli-lost",
            "--grant-type",
            "CLIENT-CREDENTIALS",
            "--profile",
            "reporting",
            "--role",
            "Analytics Reader",
        ],
    );
    all.push_str(&text(&o));
    assert!(!o.status.success());
    assert!(
        text(&o).contains("rotate-secret") && text(&o).contains("secret is lost"),
        "{}",
        text(&o)
    );
    let o = ctx.run(&cfg, &["rotate-secret", "cli-lost"]);
    all.push_str(&text(&o));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("replaces one whose delivery had failed"));

    // --reveal on a terminal (a pseudo-terminal from util-linux `script`, when present).
    let mut revealed: Vec<String> = Vec::new();
    if Command::new("script").arg("--version").output().is_ok() {
        let cmd = format!(
            "{} oauth-clients rotate-secret cli-app --reveal",
            env!("CARGO_BIN_EXE_gcprov")
        );
        let o = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("GENESYS_CLIENT_ID", ctx.emu.admin_client_id())
            .env("GENESYS_CLIENT_SECRET", ctx.emu.admin_client_secret())
            .env("GENESYS_API_URL", ctx.emu.base_url())
            .env_remove("GENESYS_REGION")
            .env_remove("GCPROV_DATABASE_URL")
            .env("GCPROV_DATA_DIR", ctx.dir.path().join("data"))
            .env("GCPROV_OAUTH_CONFIG", &cfg)
            .env("GCPROV_LOG", "warn")
            .output()
            .expect("script");
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(o.status.success(), "{out}");
        let secret = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("client_secret:"))
            .map(|s| s.trim().to_string())
            .expect("the secret is shown on the terminal");
        let chars: Vec<char> = secret.chars().collect();
        let masked: String = chars[..4]
            .iter()
            .chain(['…'].iter())
            .chain(chars[chars.len() - 4..].iter())
            .collect();
        assert!(out.contains(&masked), "{out}");
        assert!(out.contains("delivered to terminal"), "{out}");
        revealed.push(secret);
    } else {
        eprintln!("`script` not found: the --reveal-on-a-TTY case is not exercised");
    }

    // disable and delete
    let o = ctx.run(&cfg, &["disable", "cli-app"]);
    all.push_str(&text(&o));
    assert!(o.status.success(), "{}", text(&o));
    let o = ctx.run(&cfg, &["delete", "cli-app"]);
    all.push_str(&text(&o));
    assert!(o.status.success(), "{}", text(&o));
    let o = ctx.run(&cfg, &["show", "cli-app"]);
    all.push_str(&text(&o));
    assert!(!o.status.success());

    // The secrets are in their files and nowhere else: not in the debug logs, the output,
    // the errors, or the database (audit and outbox rows).
    let found = secrets_in(&secrets);
    assert_eq!(found.len(), 3);
    let mut db = Vec::new();
    for e in std::fs::read_dir(ctx.dir.path().join("data"))
        .expect("data dir")
        .flatten()
    {
        db.extend(std::fs::read(e.path()).unwrap_or_default());
    }
    let db = String::from_utf8_lossy(&db).to_string();
    assert!(
        db.contains("oauth_client.rotate_secret"),
        "audit rows are in the database"
    );
    assert!(all.contains("DEBUG"), "debug logging was on");
    for s in &revealed {
        assert!(!db.contains(s.as_str()), "revealed secret in the database");
        assert!(!all.contains(s.as_str()), "revealed secret in other output");
    }
    for s in &found {
        assert!(s.len() >= 16);
        assert!(!all.contains(s.as_str()), "secret in output or logs");
        assert!(!db.contains(s.as_str()), "secret in the database");
    }
    ctx.emu.shutdown().await;
}
