//! `smtpcm::files::atomic_write` under the failures issue 9 names: a process killed in the
//! middle of a write, and a write error (EFBIG from a file size limit). Both run the
//! writing side in a child process (this test binary again, selected by an environment
//! variable), because a kill or an RLIMIT_FSIZE must not hit the test runner itself.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use smtpcm::files::{AtomicFile, WriteError, atomic_write, write_batch};

const CHILD: &str = "SMTPCM_ATOMIC_CHILD";
const TARGET: &str = "SMTPCM_ATOMIC_TARGET";

/// Runs this test binary as a child that executes `test` in `mode`.
fn child(test: &str, mode: &str, target: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .env(TARGET, target);
    cmd
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".smtpcm-tmp"))
        .collect()
}

#[test]
fn kill_9_during_a_write_leaves_the_original_intact() {
    if std::env::var(CHILD).as_deref() == Ok("kill") {
        // Child: write half of the new content, say so, then wait to be killed.
        let target = PathBuf::from(std::env::var(TARGET).unwrap());
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(&vec![b'n'; 1 << 20]).unwrap();
        f.flush().unwrap();
        println!("ready");
        std::io::stdout().flush().unwrap();
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        panic!("the parent kills this process before it gets here");
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("big.dtsx");
    let original = vec![b'o'; 3 << 20];
    std::fs::write(&target, &original).unwrap();
    let inode = std::fs::metadata(&target).unwrap().ino();
    let mut proc = child(
        "kill_9_during_a_write_leaves_the_original_intact",
        "kill",
        &target,
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut out = BufReader::new(proc.stdout.take().unwrap());
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 && !line.contains("ready") {
        line.clear();
    }
    assert!(line.contains("ready"), "child did not start writing");
    proc.kill().unwrap(); // SIGKILL
    let status = proc.wait().unwrap();
    assert!(!status.success());
    assert_eq!(std::fs::metadata(&target).unwrap().ino(), inode);
    assert!(
        std::fs::read(&target).unwrap() == original,
        "original intact"
    );
    // What a kill leaves behind is only a temporary file beside it, never a cut-short target.
    let leftovers = temp_files(dir.path());
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    assert!(
        leftovers[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".big.dtsx.")
    );
}

#[test]
fn efbig_leaves_the_original_intact_and_says_so() {
    if std::env::var(CHILD).as_deref() == Ok("efbig") {
        let target = PathBuf::from(std::env::var(TARGET).unwrap());
        let small = target.with_file_name("small.conmgr");
        let err = atomic_write(&target, &vec![b'n'; 1 << 20]).unwrap_err();
        assert!(matches!(err, WriteError::Temp { .. }), "{err:?}");
        assert!(!err.target_changed());
        assert!(err.to_string().contains("the file is unchanged"), "{err}");
        let cause = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .and_then(std::io::Error::raw_os_error);
        assert_eq!(cause, Some(27), "EFBIG: {err}");
        // In a batch, the file that would fit is not written either.
        let err = write_batch(&[
            (small.clone(), b"new small".to_vec()),
            (target.clone(), vec![b'n'; 1 << 20]),
        ])
        .unwrap_err();
        assert!(err.changed.is_empty());
        assert_eq!(err.failed, target);
        assert_eq!(err.unchanged, vec![small, target]);
        println!("child-ok");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("big.dtsx");
    let original = vec![b'o'; 512 << 10];
    std::fs::write(&target, &original).unwrap();
    std::fs::write(dir.path().join("small.conmgr"), b"old small").unwrap();
    let inner = child(
        "efbig_leaves_the_original_intact_and_says_so",
        "efbig",
        &target,
    );
    let out = Command::new("sh")
        .arg("-c")
        // Ignoring SIGXFSZ (inherited across exec) makes the write fail with EFBIG instead
        // of killing the child. 64 blocks are 32 or 64 KiB depending on the shell.
        .arg("trap '' XFSZ; ulimit -f 64 && exec \"$@\"")
        .arg("sh")
        .arg(inner.get_program())
        .args(inner.get_args())
        .envs(inner.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child-ok"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&target).unwrap() == original);
    assert_eq!(
        std::fs::read(dir.path().join("small.conmgr")).unwrap(),
        b"old small"
    );
    assert!(temp_files(dir.path()).is_empty());
}
