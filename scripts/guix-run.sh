#!/usr/bin/env bash
# Runs a shell script inside the Guix chroot (scripts/guix-chroot.sh) with a guix-daemon
# (`--disable-chroot --no-substitutes`, as root) serving it, then stops everything:
#
#   scripts/guix-run.sh CHROOT SCRIPT [ARGS...]
#
# SCRIPT is a path inside the chroot. Everything runs in private mount and PID namespaces
# (unshare), so the mounts (/proc, /dev) and the daemon end with this script, even when it
# fails or is killed. Runs on one chroot never overlap (flock on CHROOT/.qxk-run.lock): the
# store database is shared. Needs root.
set -euo pipefail
root=${1:?usage: guix-run.sh CHROOT SCRIPT [ARGS...]}
shift
[ -f "$root/.qxk-complete" ] || {
  echo "error: $root is not a complete Guix chroot; make one with scripts/guix-chroot.sh" >&2
  exit 1
}
exec flock "$root/.qxk-run.lock" unshare --mount --pid --fork --kill-child --propagation private -- bash -euc '
  root=$1; shift
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
    GUIX_LOCPATH= bash -euc "
      guix-daemon --disable-chroot --no-substitutes >/var/log/qxk-guix-daemon.log 2>&1 &
      for i in \$(seq 1 100); do
        [ -S /var/guix/daemon-socket/socket ] && break
        sleep 0.1
      done
      [ -S /var/guix/daemon-socket/socket ] || { cat /var/log/qxk-guix-daemon.log >&2; echo \"error: guix-daemon did not start in the chroot (log above)\" >&2; exit 1; }
      bash \"\$@\"
    " guix-run "$@"
' guix-run "$root" "$@"
