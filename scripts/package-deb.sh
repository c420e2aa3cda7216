#!/usr/bin/env bash
# Builds the Debian package of smtpcm and prints its path (the only line on stdout).
#
#   scripts/package-deb.sh
#
# The package holds /usr/bin/smtpcm, a man page per command and bash, zsh and fish
# completions, all generated from the clap definitions by the binary itself
# (`smtpcm generate-assets`), so they always match the options it parses. cargo-deb is
# installed on first use. Packaging metadata: [package.metadata.deb] in
# crates/smtpcm-cli/Cargo.toml.
#
# Environment:
#   CARGO_TARGET_DIR   where to build (default: <repo>/target); the .deb lands in its debian/
#   CARGO_BUILD_JOBS   parallel rustc jobs (default 2: the machine is shared)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"

log() { printf 'package-deb: %s\n' "$*" >&2; }

if ! cargo deb --version >/dev/null 2>&1; then
  log "cargo-deb not installed; installing it (once)"
  cargo install cargo-deb --locked >&2
fi

log "building the release binary"
cargo build --release --locked -p smtpcm-cli >&2

# cargo-deb maps the asset paths starting with target/release/ to $TARGET_DIR/release/.
assets="$TARGET_DIR/release/assets"
rm -rf "$assets"
"$TARGET_DIR/release/smtpcm" generate-assets "$assets" >&2
for f in man/smtpcm.1 completions/smtpcm.bash completions/_smtpcm completions/smtpcm.fish; do
  [[ -s "$assets/$f" ]] || {
    log "generate-assets did not write $assets/$f"
    exit 1
  }
done

log "packaging"
deb="$(cargo deb -p smtpcm-cli --no-build --locked)"
deb="$(printf '%s\n' "$deb" | tail -n 1)"
[[ -f "$deb" ]] || {
  log "cargo deb did not report a package file (got: $deb)"
  exit 1
}
printf '%s\n' "$deb"
