"""`python -m aiperf.mock …` is `aiperf mock-server …`."""

import sys

from .server import run_cli

sys.exit(run_cli(sys.argv[1:]))
