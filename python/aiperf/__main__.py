"""`python -m aiperf` runs the console script."""
import sys

from aiperf.cli import main

sys.exit(main())
