//! The designer in a real browser: runs `tests/browser/designer.test.mjs` (node's test runner,
//! Playwright's `playwright-core` driving Debian's headless `/usr/bin/chromium`) against the
//! `smtpcm` binary built for this test.
//!
//! Needs node, chromium and `tests/browser/node_modules` (`scripts/servers/browser.sh install`,
//! which `scripts/test-servers.sh start` runs). Without them the test says it skipped; with
//! `CI=true` that is a failure. The Postfix half of the Test connection check uses the test
//! servers' env file (`SMTPCM_TEST_ENV`, else `<repo>/.test-servers/env`).
//!
//! Screenshots of every editor page go to `<target>/test-artifacts/designer/` (printed).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate is two levels below the repository")
        .to_path_buf()
}

fn missing_tools(tests_dir: &Path) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node");
    }
    if !Path::new("/usr/bin/chromium").exists() {
        missing.push("/usr/bin/chromium");
    }
    if !tests_dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        missing.push("tests/browser/node_modules (npm ci)");
    }
    missing
}

#[test]
fn designer_in_a_real_browser() {
    let repo = repo();
    let tests_dir = repo.join("tests/browser");
    let missing = missing_tools(&tests_dir);
    if !missing.is_empty() {
        let msg = format!(
            "browser tests need {}: run scripts/servers/browser.sh install",
            missing.join(", ")
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
        return;
    }
    let target = PathBuf::from(env!("CARGO_BIN_EXE_smtpcm"))
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let artifacts = target.join("test-artifacts/designer");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let env_file = std::env::var_os("SMTPCM_TEST_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".test-servers/env"));
    let mut cmd = Command::new("node");
    cmd.current_dir(&tests_dir)
        .args(["--test", "--test-timeout", "300000", "designer.test.mjs"])
        .env("SMTPCM_BIN", env!("CARGO_BIN_EXE_smtpcm"))
        .env("SMTPCM_CORPUS", repo.join("../shared/corpus/dtsx"))
        .env("SMTPCM_ARTIFACTS", &artifacts);
    if env_file.exists() {
        cmd.env("SMTPCM_TEST_ENV", &env_file);
    } else {
        cmd.env_remove("SMTPCM_TEST_ENV");
    }
    let out = cmd.output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    println!("designer screenshots: {}", artifacts.display());
    assert!(out.status.success(), "browser tests failed (see above)");
    assert!(
        stdout.contains("# fail 0") && !stdout.contains("# pass 0"),
        "the browser tests did not all run and pass"
    );
}
