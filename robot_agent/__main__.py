"""`python -m robot_agent`: the same as the `tonypi-agent` command."""

import sys

from robot_agent.cli import main

sys.exit(main())
