"""`make web`: the demo gateway under mitmweb, with each flow's trace in its comment.

`python -m demo.web --help` lists the ports and folders it uses; see `demo.launcher`.
"""

import sys

from .launcher import main

if __name__ == "__main__":
    sys.exit(main("mitmweb"))
