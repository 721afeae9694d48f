"""`python -m planwatch` runs the CLI."""

import sys

from planwatch.cli import main

sys.exit(main())
