#!/usr/bin/env python3
"""olddefconfig with kconfiglib (PyPI), the independent Kconfig implementation xen-config is
compared with. Run in the Xen `xen/` directory with the environment Xen's make exports
(SRCARCH, ARCH, CC, LD, srctree, XEN_FULLVERSION, XEN_HAS_CHECKPOLICY, XEN_HAS_BUILD_ID).

usage: kconfiglib-olddefconfig.py INPUT_CONFIG OUTPUT_CONFIG
"""
import sys

import kconfiglib

inp, out = sys.argv[1], sys.argv[2]
kconf = kconfiglib.Kconfig("Kconfig", warn=False)
kconf.load_config(inp)
# conf's heading, so the two files can be compared byte for byte.
header = "#\n# Automatically generated file; DO NOT EDIT.\n# %s\n#\n" % kconf.mainmenu_text
kconf.write_config(out, header=header)
