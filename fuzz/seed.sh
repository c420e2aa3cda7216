#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seeds taken from the real packages in ../shared/corpus/dtsx
# (relative to the repository root), next to the small hand-written seed-* files kept in git.
# The packages are not copied into git: they are generated here, at run time, when present.
#
#   fuzz/seed.sh            # idempotent; prints what it added
set -euo pipefail

FUZZ="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SHARED="$FUZZ/../../shared/corpus/dtsx"
if [[ ! -d "$SHARED" ]]; then
  echo "fuzz/seed.sh: skipped: ../shared not found ($SHARED); using the checked-in seeds only" >&2
  exit 0
fi

added=0
# Whole packages (small ones only: libFuzzer truncates inputs to -max_len anyway).
while IFS= read -r -d '' file; do
  name="real-$(basename "$file" | tr -c 'A-Za-z0-9._\n-' '_')"
  if [[ ! -e "$FUZZ/corpus/package/$name" ]]; then
    install -m 644 "$file" "$FUZZ/corpus/package/$name"
    added=$((added + 1))
  fi
done < <(find "$SHARED" -maxdepth 1 \( -name '*.dtsx' \) -size -50k -print0)

# Values found inside the packages: connection strings, expressions and To/Cc/Bcc lists.
# Attribute values are XML-escaped in the files; un-escape the common entities.
extract() {
  local target="$1" pattern="$2" n=0 value
  while IFS= read -r value; do
    value="${value//&quot;/\"}"
    value="${value//&lt;/<}"
    value="${value//&gt;/>}"
    value="${value//&#xD;/$'\r'}"
    value="${value//&#xA;/$'\n'}"
    value="${value//&amp;/&}"
    [[ -n "$value" ]] || continue
    n=$((n + 1))
    printf '%s' "$value" >"$FUZZ/corpus/$target/real-$(printf '%s' "$value" | cksum | cut -d' ' -f1)"
  done < <(grep -rhoE "$pattern" "$SHARED" | sed -E 's/^[^"]*"//; s/"$//' | sort -u)
  echo "fuzz/seed.sh: $target: $n values from the corpus"
}
extract connection_string 'ConnectionString="SmtpServer=[^"]*"'
extract expression 'DTS:Expression="[^"]*"'
extract address_list 'SendMailTask:(To|CC|BCC|From)="[^"]*"'
echo "fuzz/seed.sh: package: $added new files from $SHARED"
