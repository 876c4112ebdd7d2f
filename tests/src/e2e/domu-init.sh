#!/bin/sh
# PID 1 of the e2e domU: run the guest-side checks; dom0 reads their results from
# this console (xenconsoled's log) and destroys the domain afterwards.
/bin/busybox --install -s /bin
export PATH=/qxk/bin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp && mount -t tmpfs tmpfs /tmp
e2e-domu
echo "QXK-DOMU-DONE rc=$?"
exec sleep 100000
