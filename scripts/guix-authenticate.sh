#!/usr/bin/env bash
# CI's check that Guix would accept the channel's history: when the repository has
# `.guix-authorizations`, runs real Guix's `guix git authenticate` (in the Guix chroot, see
# scripts/guix-chroot.sh and scripts/guix-run.sh) from the channel introduction to the tip of
# `main` and of every bot branch (`bot/bumps-*`, local or fetched from a remote).
#
#   scripts/guix-authenticate.sh [-C REPO]
#
# The introduction is the commit that added `.guix-authorizations` (what
# scripts/guix-channel-init.sh makes), signed by the first key that file lists. Prints one
# `authenticated BRANCH COMMIT` line per branch; exits 1 naming each branch Guix refuses.
# Without `.guix-authorizations` it prints a `skip:` line and exits 0 (nothing to check yet).
set -euo pipefail
repo=.
if [ "${1:-}" = "-C" ]; then
  repo=$2
  shift 2
fi
cd "$repo"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! git cat-file -e HEAD:.guix-authorizations 2>/dev/null; then
  echo "skip: $(pwd) has no committed .guix-authorizations; the channel is not introduced yet (scripts/guix-channel-init.sh)"
  exit 0
fi
intro=$(git log --diff-filter=A --format=%H -- .guix-authorizations | tail -n 1)
fpr=$(git show "$intro:.guix-authorizations" | grep -o '"[0-9A-Fa-f ]\{40,\}"' | head -n 1 | tr -d '" ')
[ ${#fpr} -eq 40 ] || {
  echo "error: $(pwd)/.guix-authorizations at the introduction $intro lists no 40-hex-digit fingerprint; expected the key scripts/guix-channel-init.sh wrote" >&2
  exit 1
}
git rev-parse --verify --quiet refs/heads/keyring >/dev/null ||
  git for-each-ref --format='%(refname)' 'refs/remotes/*/keyring' | grep -q . || {
  echo "error: $(pwd) has no keyring branch (local or fetched); fetch it: git fetch origin keyring:keyring" >&2
  exit 1
}
branches=$(git for-each-ref --format='%(refname:short)' refs/heads/main 'refs/heads/bot/bumps-*' \
  'refs/remotes/*/main' 'refs/remotes/*/bot/bumps-*')
[ -n "$branches" ] || { echo "skip: $(pwd) has no main or bot/bumps-* branch"; exit 0; }

chroot_dir=$("$here/guix-chroot.sh")
work=$(mktemp -d "$chroot_dir/tmp/qxk-auth.XXXXXX")
trap 'rm -rf "$work"' EXIT
git clone -q --mirror "$(pwd)" "$work/repo.git"
# A mirror keeps remote-tracking refs only as they were fetched: copy them as heads.
for b in $branches; do
  git -C "$work/repo.git" update-ref "refs/heads/qxk-check/$b" "$(git rev-parse "$b^{commit}")"
done
git -C "$work/repo.git" rev-parse --verify --quiet refs/heads/keyring >/dev/null ||
  git -C "$work/repo.git" update-ref refs/heads/keyring \
    "$(git for-each-ref --format='%(objectname)' 'refs/remotes/*/keyring' | head -n 1)"
inside=/tmp/${work##*/}
script="$work/run.sh"
{
  echo 'fail=0'
  for b in $branches; do
    c=$(git rev-parse "$b^{commit}")
    echo "if out=\$(guix git authenticate $intro $fpr -r $inside/repo.git --end=$c 2>&1); then"
    echo "  echo 'authenticated $b $c'"
    echo "else"
    echo "  echo \"\$out\" >&2; echo 'error: guix git authenticate refused $b ($c) from the introduction $intro (key $fpr): a commit is not signed by a key .guix-authorizations lists' >&2; fail=1"
    echo "fi"
  done
  echo 'exit $fail'
} >"$script"
"$here/guix-run.sh" "$chroot_dir" "$inside/run.sh"
