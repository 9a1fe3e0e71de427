//! `gcprov apply` killed with SIGKILL at several points, then `gcprov apply --resume`: the org
//! ends equal to the desired state, with no duplicate users or groups.
//!
//! The kill points are chosen by write count (read from the emulator's statistics), not by
//! time: the child is killed as soon as the emulator has seen at least `k` writes, wherever the
//! child is at that moment.

use std::path::Path;
use std::process::{Command, Stdio};

use gcprov_emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, Seed, SeedGroup, SeedNamed, SeedProficiency, SeedUser,
};

const DESIRED: &str = "\
externalId,userName,displayName,title,active,groups,skills
E1,alice@example.com,Alice Adams,Senior Agent,true,,Billing:4
E3,carol@example.com,Carol Cole,,true,,
,dave@example.com,Dave Dunn,,true,Agents,
,erin@example.com,Erin Ernst,,true,Support,
E6,frank@example.com,Frank Fox,Agent,true,Agents;Support,Billing:1
E7,gina@example.com,Gina Gold,Agent,true,Support,
E8,hank@example.com,Hank Hill,Agent,false,,
";

fn user(name: &str, email: &str) -> SeedUser {
    SeedUser {
        name: name.into(),
        email: email.into(),
        ..Default::default()
    }
}

fn seed() -> Seed {
    let mut alice = user("Alice Adams", "alice@example.com");
    alice.title = Some("Agent".into());
    alice.skills = vec![SeedProficiency {
        name: "Sales".into(),
        proficiency: 2.0,
    }];
    let mut carol = user("Carol Cole", "carol@example.com");
    carol.state = "deleted".into();
    Seed {
        skills: vec![
            SeedNamed {
                id: None,
                name: "Sales".into(),
            },
            SeedNamed {
                id: None,
                name: "Billing".into(),
            },
        ],
        groups: vec![SeedGroup {
            name: "Agents".into(),
            members: vec!["dave@example.com".into(), "erin@example.com".into()],
            ..Default::default()
        }],
        users: vec![
            alice,
            user("Bob Brown", "bob@example.com"),
            carol,
            user("Dave Dunn", "dave@example.com"),
            user("Erin Ernst", "erin@example.com"),
        ],
        ..Default::default()
    }
}

fn writes(emu: &EmulatorHandle) -> u64 {
    let s = emu.stats();
    s["byRoute"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(r, _)| {
                    !r.starts_with("GET ") && r.contains("/api/v2/") && !r.contains("/search")
                })
                .map(|(_, c)| c.as_u64().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

fn gcprov(emu: &EmulatorHandle, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gcprov"));
    c.args(args);
    if args[0] == "apply" {
        c.arg("--data-dir").arg(dir.join("data"));
    }
    c.current_dir(dir)
        .env_clear()
        .env("GENESYS_CLIENT_ID", emu.admin_client_id())
        .env("GENESYS_CLIENT_SECRET", emu.admin_client_secret())
        .env("GENESYS_API_URL", emu.base_url())
        .env("GENESYS_LOGIN_URL", emu.base_url())
        // Paced, so the kill lands between writes at a point the test does not control.
        .env("GCPROV_RATE_LIMIT", "1200")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

async fn start() -> EmulatorHandle {
    Emulator::start(EmulatorConfig {
        seed: Some(seed()),
        rate_limit_per_minute: None,
        ..Default::default()
    })
    .await
    .expect("emulator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_resume_converges_without_duplicates() {
    // Writes of an uninterrupted run.
    let total = {
        let emu = start().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("desired.csv"), DESIRED).unwrap();
        let out = gcprov(
            &emu,
            dir.path(),
            &[
                "apply",
                "--desired",
                "desired.csv",
                "--max-delete-percent",
                "100",
            ],
        )
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        writes(&emu)
    };
    assert!(total >= 10, "{total}");
    // Kill points spread over the run (deterministic pseudo-random choice).
    let mut points: Vec<u64> = (0..5u64)
        .map(|i| 1 + (i * 7919 + 13) % (total - 1))
        .collect();
    points.sort_unstable();
    points.dedup();
    for k in points {
        let emu = start().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("desired.csv"), DESIRED).unwrap();
        let mut child = gcprov(
            &emu,
            dir.path(),
            &[
                "apply",
                "--desired",
                "desired.csv",
                "--max-delete-percent",
                "100",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let mut finished = false;
        loop {
            if writes(&emu) >= k {
                break;
            }
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            tokio::task::yield_now().await;
            std::thread::yield_now();
        }
        assert!(!finished, "the apply ended before {k} writes");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let out = gcprov(&emu, dir.path(), &["apply", "--resume"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "resume after kill at write {k}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let out = gcprov(
            &emu,
            dir.path(),
            &[
                "plan",
                "--desired",
                "desired.csv",
                "--max-delete-percent",
                "100",
            ],
        )
        .output()
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("No changes"),
            "kill at write {k}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // No duplicates: one frank, one Support group; a second apply writes nothing.
        emu.reset_stats();
        let out = gcprov(
            &emu,
            dir.path(),
            &[
                "apply",
                "--desired",
                "desired.csv",
                "--max-delete-percent",
                "100",
            ],
        )
        .output()
        .unwrap();
        assert!(out.status.success());
        assert_eq!(writes(&emu), 0, "kill at write {k}");
        let out = gcprov(
            &emu,
            dir.path(),
            &[
                "plan",
                "--desired",
                "desired.csv",
                "-v",
                "--max-delete-percent",
                "100",
            ],
        )
        .output()
        .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Read 8 Genesys users"),
            "kill at write {k}"
        );
    }
}
