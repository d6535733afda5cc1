"""`python -m benchtest.cli`: the `benchtest` command."""

import sys

from benchtest.cli.commands import main

sys.exit(main())
