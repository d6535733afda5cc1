"""`python -m benchtest.sim --dut PROFILE --bench BENCH [--serial SN] [--write-bench PATH]`.

Serves the simulated bench in this process as a child of a test run; `serve` is the same for
library callers (`benchtest sim`). See `benchtest.sim.serve` for the behaviour.
"""

from __future__ import annotations

import sys

from benchtest.sim.serve import main, serve

__all__ = ["main", "serve"]

if __name__ == "__main__":
    sys.exit(main())
