#!/bin/sh
# /sbin/init of the e2e disk image (its root partition, mounted by the loader):
# read this domain's own name with `xs` (a path relative to its xenstore home) — the
# guest bundle's when the template carries it, else ours — report it and the mounted
# root on the console; with the bundle, run the vchan client against dom0; power off.
export PATH=/qxk/bin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
xs=xs
[ -x /opt/qubes-xen/current/bin/xs ] && xs=/opt/qubes-xen/current/bin/xs
name=$($xs read name 2>&1)
rc=$?
# The ext4 root's device, read with the shell's own `read` (a grep pipeline here once printed
# nothing under the Qubes build while the same table, printed below, held the line).
root=
while read -r dev dir fs rest; do
  [ "$dir" = / ] && [ "$fs" = ext4 ] && root=$dev
done </proc/mounts
# The mount table too (fields joined by ':', entries by ','), for a failure's message.
mounts=$(cut -d' ' -f1-3 /proc/mounts | tr ' \n' ':,')
echo "QXK-IMAGE-GUEST name=$name rc=$rc root=$root xs=$xs uptime=$(cut -d' ' -f1 /proc/uptime) mounts=$mounts"
if [ -x /qxk/bin/e2e-vchan ]; then
  domid=$($xs read domid 2>&1)
  e2e-vchan "/local/domain/$domid/data/qxk-vchan"
fi
# The benchmark (scripts/bench-vchan.sh): rounds of the C vchan-node1 of the same tree and of
# ours, alternated, each reading what a dom0 server with the same (smallest) rings writes,
# into `wc -c`.
if [ -x /qxk/bin/vchan-node1 ]; then
  out=
  for r in c1 rs1 c2 rs2 c3 rs3; do
    p=/local/domain/$domid/data/qxk-bench-$r
    i=0
    until $xs read $p/event-channel >/dev/null 2>&1 || [ $i -ge 1200 ]; do sleep 0.1; i=$((i + 1)); done
    t0=$(cut -d' ' -f1 /proc/uptime)
    case $r in
      c*) n=$(LD_LIBRARY_PATH=/opt/qubes-xen/current/lib vchan-node1 client read 0 $p 2>/dev/null | wc -c) ;;
      *) n=$(e2e-vchan --copy-out $p | wc -c) ;;
    esac
    t1=$(cut -d' ' -f1 /proc/uptime)
    out="$out ${r}_bytes=$n ${r}_start=$t0 ${r}_end=$t1"
  done
  echo "QXK-VCHAN-BENCH$out"
fi
