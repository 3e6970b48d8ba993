"""`python -m aiperf.mock …` is `aiperf mock-server …`."""

import sys

from aiperf.mock.server import run_cli

sys.exit(run_cli(sys.argv[1:]))
