#!/usr/bin/env bash
# The `deb` step of scripts/test.sh: builds the .deb (scripts/package-deb.sh), installs it
# with dpkg -i, runs `smtpcm demo` from the installed /usr/bin/smtpcm, checks that the man
# page and the completions are in place, and removes the package again, also when a check
# fails or the script is interrupted.
#
#   scripts/deb-check.sh        (as root: it installs and removes a package)
#
# An smtpcm package that was installed before is refused rather than replaced and removed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

log() { printf 'deb-check: %s\n' "$*" >&2; }

[[ $EUID -eq 0 ]] || {
  log "installs a package: run as root"
  exit 1
}
if dpkg-query -W -f='${Status}' smtpcm 2>/dev/null | grep -q 'install ok installed'; then
  log "an smtpcm package is already installed; remove it first (dpkg -r smtpcm)"
  exit 1
fi

deb="$(scripts/package-deb.sh)"
log "built $deb"
contents="$(dpkg-deb -c "$deb")"
for path in usr/bin/smtpcm usr/share/man/man1/smtpcm.1 usr/share/man/man1/smtpcm-sink.1 \
  usr/share/bash-completion/completions/smtpcm usr/share/zsh/vendor-completions/_smtpcm \
  usr/share/fish/vendor_completions.d/smtpcm.fish; do
  grep -q "\./$path" <<<"$contents" || {
    log "$deb lacks $path"
    exit 1
  }
done

remove() {
  if dpkg-query -W -f='${Status}' smtpcm 2>/dev/null | grep -q 'installed'; then
    dpkg -r smtpcm >/dev/null || log "dpkg -r smtpcm failed"
  fi
}
trap remove EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

dpkg -i "$deb"
/usr/bin/smtpcm --version
/usr/bin/smtpcm demo

# Minimal images may tell dpkg to drop man pages; the package contents were checked above.
if grep -qs '^path-exclude=/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
  log "dpkg here excludes /usr/share/man; checked the man page inside the package only"
elif command -v man >/dev/null; then
  page="$(man -w smtpcm)"
  log "man page: $page"
  man -w smtpcm-sink >/dev/null
else
  ls /usr/share/man/man1/smtpcm.1* >/dev/null
fi
for f in /usr/share/bash-completion/completions/smtpcm /usr/share/zsh/vendor-completions/_smtpcm \
  /usr/share/fish/vendor_completions.d/smtpcm.fish; do
  [[ -s "$f" ]] || {
    log "$f missing after install"
    exit 1
  }
done
log "ok: installed, demo ran from /usr/bin/smtpcm, man page and completions in place"
