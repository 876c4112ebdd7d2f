#!/bin/sh
# PID 1 of the e2e dom0: bring up the Xen control plane the way a distribution's
# boot would (modules, xenfs, xenstored, xen-init-dom0, xenconsoled), run the
# checks, then end QEMU through its isa-debug-exit port.
/bin/busybox --install -s /bin
# Debian's Xen lives in /usr/lib/xen-4.17, a `make dist-tools` build (prefix /usr) in
# /usr/{sbin,bin,lib} with its helpers in /usr/lib/xen/bin.
export PATH=/qxk/bin:/usr/lib/xen-4.17/bin:/usr/lib/xen/bin:/usr/bin:/usr/sbin:/bin:/sbin
export LD_LIBRARY_PATH=/usr/lib/xen-4.17/lib/x86_64-linux-gnu:/usr/lib
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /run /tmp /var/lib/xen /var/lib/xenstored /var/log/xen /var/run/xen /var/run/xenstored
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
echo "qxk-init: dom0 userspace up at $(cut -d' ' -f1 /proc/uptime) s"
# Debian builds these drivers as modules; the rest of Xen support is built in.
kmods=/lib/modules/$(uname -r)/kernel/drivers/xen
for m in xen-privcmd xenfs/xenfs xen-evtchn xen-gntdev xen-gntalloc; do
  insmod $kmods/$m.ko || echo "qxk-init: insmod $m failed"
done
mount -t xenfs xenfs /proc/xen || echo "qxk-init: mounting xenfs failed"
xenstored --pid-file /var/run/xenstored.pid || echo "qxk-init: xenstored failed rc=$?"
xen-init-dom0 || echo "qxk-init: xen-init-dom0 failed rc=$?"
xenconsoled --pid-file=/var/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen \
  || echo "qxk-init: xenconsoled failed rc=$?"
echo "qxk-init: control plane up at $(cut -d' ' -f1 /proc/uptime) s"
e2e-dom0
rc=$?
echo "QXK-E2E-DONE rc=$rc uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
# isa-debug-exit at port 0xf4: QEMU exits with status (0x2a << 1) | 1 = 85.
printf '\052' | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
sleep 5
poweroff -f
