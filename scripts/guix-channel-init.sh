#!/usr/bin/env bash
# Makes a repository an authenticated Guix channel, once, from its maintainer's key:
#   1. a `keyring` branch holding each authorized key's public key (`<fingerprint>.key`);
#   2. `.guix-authorizations` listing those keys, committed (with `.guix-channel` and the
#      generated modules) in a commit signed by the first key: the channel introduction;
#   3. prints the `channels.scm` entry with that introduction, for the channel branch
#      (`main`, or BRANCH: Guix would otherwise pull `master`).
#
#   scripts/guix-channel-init.sh [-C REPO] [-b BRANCH] KEY [KEY...]
#
# Every later commit must be signed by a key listed in its parent's .guix-authorizations
# (the bump bot's included: `package-defs bot --sign KEY`). Push the `keyring` branch with
# the channel branch. Keys come from gpg's keyring (GNUPGHOME).
set -euo pipefail
repo=.
branch=main
while [ $# -ge 2 ]; do
  case $1 in
    -C) repo=$2; shift 2 ;;
    -b) branch=$2; shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "usage: guix-channel-init.sh [-C REPO] [-b BRANCH] KEY [KEY...]" >&2; exit 2; }
cd "$repo"
[ -f .guix-channel ] || { echo "error: $(pwd)/.guix-channel is missing; this is not a Guix channel" >&2; exit 1; }
if git rev-parse --verify --quiet refs/heads/keyring >/dev/null; then
  echo "error: $(pwd) already has a keyring branch; authorize new keys in a commit signed by an authorized key instead" >&2
  exit 1
fi

fingerprint() {
  gpg --batch --with-colons --fingerprint "$1" 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }'
}
auth="(authorizations\n (version 0)\n ("
tree=""
for key in "$@"; do
  fpr=$(fingerprint "$key")
  [ -n "$fpr" ] || { echo "error: gpg has no key $key (GNUPGHOME=${GNUPGHOME:-~/.gnupg})" >&2; exit 1; }
  uid=$(gpg --batch --with-colons --list-keys "$fpr" | awk -F: '$1 == "uid" { print $10; exit }')
  name=${uid%% <*}
  blob=$(gpg --batch --armor --export "$fpr" | git hash-object -w --stdin)
  tree+="100644 blob $blob	$fpr.key"$'\n'
  spaced=$(echo "$fpr" | sed -E 's/(.{4})/\1 /g; s/ $//')
  auth+="(\"$spaced\"\n   (name \"${name//\"/}\"))\n  "
done
auth="${auth%\\n  }))"
printf '%b\n' "$auth" >.guix-authorizations
keyring_tree=$(printf '%s' "$tree" | git mktree)
keyring_commit=$(git -c commit.gpgsign=false commit-tree -m "keyring: public keys of the channel's authorized signers" "$keyring_tree")
git update-ref refs/heads/keyring "$keyring_commit"

first=$(fingerprint "$1")
git add .guix-authorizations .guix-channel
[ -d guix ] && git add guix
git commit -q --gpg-sign="$first" -m "Guix channel introduction: authorize the keys in .guix-authorizations"
intro=$(git rev-parse HEAD)
spaced=$(echo "$first" | sed -E 's/(.{4})/\1 /g; s/ $//')
cat <<SCM
(channel
  (name 'qubes-xen-kit)
  (url "URL-OF-THIS-REPOSITORY")
  (branch "$branch")
  (introduction
   (make-channel-introduction
    "$intro"
    (openpgp-fingerprint
     "$spaced"))))
SCM
