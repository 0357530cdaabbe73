"""Entry file for mitmproxy: `mitmdump -s addon/main.py`.

mitmproxy loads this one file under a made-up module name, so relative imports fail
here; it puts the repository root on sys.path and imports the `addon` package
absolutely. When mitmproxy reloads this file after an edit, the cached `addon.*`
modules are dropped first, so that edits to them take effect too.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

if getattr(sys.modules.get("addon"), "loaded_by_script", False):
    for _name in [m for m in sys.modules if m == "addon" or m.startswith("addon.")]:
        del sys.modules[_name]

import addon  # noqa: E402
from addon.commands import GatewayCommands  # noqa: E402
from addon.gateway import Gateway  # noqa: E402
from addon.reload import ConfigWatcher  # noqa: E402

addon.loaded_by_script = True
# The gateway, the watcher that reloads its config files, and its gateway.* commands.
gateway = Gateway()
addons = [gateway, ConfigWatcher(gateway), GatewayCommands(gateway)]
