"""`make run`: the demo gateway under mitmdump, with the tutorial backend beside it.

It listens on 127.0.0.1:8280 (HTTP) and 127.0.0.1:8243 (HTTPS), prints a fresh token of
`DefaultApplication` and the curl lines to try, and stops with Ctrl-C.
`python -m demo.run --help` lists the ports and files it uses; see `demo.launcher`.
"""

import sys

from .launcher import main

if __name__ == "__main__":
    sys.exit(main("mitmdump"))
