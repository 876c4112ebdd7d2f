#!/bin/sh
# PID 1 of the loader initramfs of the e2e disk image: insert the block and ext4
# modules (listed in load order in /modules/order), wait for the root= partition
# from the kernel command line, mount it read-only and hand over to its /sbin/init.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do
  insmod /modules/$m || echo "qxk-loader: insmod $m failed"
done
root=
for arg in $(cat /proc/cmdline); do
  case "$arg" in root=*) root=${arg#root=} ;; esac
done
i=0
while [ ! -b "$root" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
mkdir -p /newroot
if ! mount -t ext4 -o ro "$root" /newroot; then
  echo "QXK-IMAGE-LOADER-FAILED cannot mount root=$root; block devices: $(ls /sys/class/block)"
  poweroff -f
fi
umount /proc /sys /dev 2>/dev/null
exec switch_root /newroot /sbin/init
