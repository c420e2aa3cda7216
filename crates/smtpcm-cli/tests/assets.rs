//! `smtpcm generate-assets`: the man pages and completions the .deb ships, generated from the
//! clap definitions.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_smtpcm");

#[test]
fn man_pages_and_completions_are_generated_from_the_cli_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("generate-assets")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let read = |rel: &str| {
        std::fs::read_to_string(dir.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    };
    let main = read("man/smtpcm.1");
    assert!(
        main.starts_with(".ie"),
        "roff: {}",
        &main[..40.min(main.len())]
    );
    assert!(
        main.contains("smtpcm\\-send(1)"),
        "subcommands are cross-referenced"
    );
    assert!(
        !main.contains("generate\\-assets"),
        "the hidden packaging helper is not documented"
    );
    assert!(read("man/smtpcm-sink.1").contains("allow\\-remote"));
    assert!(read("completions/smtpcm.bash").contains("set-connection"));
    assert!(read("completions/_smtpcm").contains("--max-recipients"));
    assert!(read("completions/smtpcm.fish").contains("max-messages"));
    assert!(!dir.path().join("man/smtpcm-generate-assets.1").exists());
}

#[test]
fn generate_assets_is_hidden_from_help() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("generate-assets"));
}
