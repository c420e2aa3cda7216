//! Issue 8: the package model must not call the loader or hold its types (`package` ->
//! `dtsx` was an import circle). The compiler does not forbid it inside one crate, so the
//! sources are checked here.

#[test]
fn the_package_model_does_not_use_the_loader() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/package");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            assert!(
                !line.contains("crate::dtsx") && !line.contains("super::super::dtsx"),
                "{}:{}: the model uses the loader: {line}",
                path.display(),
                n + 1
            );
        }
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} files in {}", dir.display());
}
