#!/bin/sh
# /sbin/init of the e2e disk image (its root partition, mounted by the loader):
# read this domain's own name with our `xs` (a path relative to its xenstore home),
# report it and the mounted root on the console, power off.
export PATH=/qxk/bin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
name=$(xs read name 2>&1)
rc=$?
# The ext4 root's device, read with the shell's own `read` (a grep pipeline here once printed
# nothing under the Qubes build while the same table, printed below, held the line).
root=
while read -r dev dir fs rest; do
  [ "$dir" = / ] && [ "$fs" = ext4 ] && root=$dev
done </proc/mounts
# The mount table too (fields joined by ':', entries by ','), for a failure's message.
mounts=$(cut -d' ' -f1-3 /proc/mounts | tr ' \n' ':,')
echo "QXK-IMAGE-GUEST name=$name rc=$rc root=$root uptime=$(cut -d' ' -f1 /proc/uptime) mounts=$mounts"
sleep 1
poweroff -f
