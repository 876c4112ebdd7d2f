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
root=$(grep ' / ext4 ' /proc/mounts | cut -d' ' -f1)
# The mount table too (fields joined by ':', entries by ','), for a failure's message.
mounts=$(cut -d' ' -f1-3 /proc/mounts | tr ' \n' ':,')
echo "QXK-IMAGE-GUEST name=$name rc=$rc root=$root uptime=$(cut -d' ' -f1 /proc/uptime) mounts=$mounts"
sleep 1
poweroff -f
