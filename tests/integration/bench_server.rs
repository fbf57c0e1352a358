//! `examples/bench_server.rs` honours its contract in each of its apps (`#[secure]`,
//! `--hand` and `--hand-headers`), over real HTTP: the routes, their bodies and statuses,
//! 401 without a token, 403 for a role too low, 422 for an invalid body.

use serde_json::{Value, json};

use crate::example_process::ExampleProcess;

const SECRET: &str = "bench-server-contract-secret-of-32-bytes+";

fn mint(role: &str) -> String {
    let bin = std::env::current_exe().unwrap();
    let bin = bin
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples/bench_server");
    let out = std::process::Command::new(bin)
        .args(["--mint", role])
        .env_clear()
        .env("JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn check_contract(args: &[&str]) {
    let server = ExampleProcess::start(
        "bench_server",
        args,
        "ADDR",
        &[("JWT_SECRET", SECRET)],
        "listening on",
    );
    let viewer = format!("Bearer {}", mint("viewer"));
    let editor = format!("Bearer {}", mint("editor"));
    let json = |body: &str| serde_json::from_str::<Value>(body).unwrap();

    let (status, body) = server.request("GET", "/bare/7", &[], None);
    assert_eq!((status, json(&body)), (200, json!({ "id": 7 })), "{args:?}");

    let (status, body) = server.request("GET", "/secured/7", &[("Authorization", &viewer)], None);
    assert_eq!(
        (status, json(&body)),
        (200, json!({ "id": 7, "sub": "bench-viewer" })),
        "{args:?}"
    );
    // The hierarchy: an editor holds viewer.
    let (status, _) = server.request("GET", "/secured/8", &[("Authorization", &editor)], None);
    assert_eq!(status, 200, "{args:?}");
    let (status, _) = server.request("GET", "/secured/7", &[], None);
    assert_eq!(status, 401, "{args:?}: no token");
    let forged = format!("Bearer {}x", mint("admin"));
    let (status, _) = server.request("GET", "/secured/7", &[("Authorization", &forged)], None);
    assert_eq!(status, 401, "{args:?}: bad signature");

    let item = r#"{"name":"Grace Hopper","email":"grace@example.com"}"#;
    let (status, body) = server.request(
        "POST",
        "/secured",
        &[("Authorization", &editor)],
        Some(item),
    );
    assert_eq!((status, json(&body)), (201, json(item)), "{args:?}");
    let (status, _) = server.request("POST", "/secured", &[], Some(item));
    assert_eq!(status, 401, "{args:?}: POST without a token");
    let (status, _) = server.request(
        "POST",
        "/secured",
        &[("Authorization", &viewer)],
        Some(item),
    );
    assert_eq!(status, 403, "{args:?}: a viewer may not POST");
    for bad in [
        r#"{"name":"","email":"grace@example.com"}"#,
        r#"{"name":"Grace","email":"not an address"}"#,
        &format!(
            r#"{{"name":"{}","email":"grace@example.com"}}"#,
            "x".repeat(65)
        ),
    ] {
        let (status, _) =
            server.request("POST", "/secured", &[("Authorization", &editor)], Some(bad));
        assert_eq!(status, 422, "{args:?}: {bad}");
    }
}

#[test]
fn the_secure_bench_server_honours_its_contract() {
    check_contract(&[]);
}

#[test]
fn the_hand_assembled_bench_server_honours_the_same_contract() {
    check_contract(&["--hand"]);
}

#[test]
fn the_hand_assembled_bench_server_with_headers_honours_the_same_contract() {
    check_contract(&["--hand-headers"]);
}
