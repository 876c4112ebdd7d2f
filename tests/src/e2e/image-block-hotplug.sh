#!/bin/sh
# libxl's hotplug script for the e2e disk image's vbd (`script=` in the disk spec):
# dom0 attached the image to a loop device; tell blkback that device's major:minor,
# the job Xen's bash `block` script does (dom0 here has busybox only).
case "$1" in
add)
  dev=$(xenstore-read "$XENBUS_PATH/params") || exit 1
  mm=$(stat -L -c '%t:%T' "$dev") || exit 1
  xenstore-write "$XENBUS_PATH/physical-device" "$mm" \
    "$XENBUS_PATH/physical-device-path" "$dev" \
    "$XENBUS_PATH/hotplug-status" connected
  ;;
esac
exit 0
