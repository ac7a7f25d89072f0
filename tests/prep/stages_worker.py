"""Run `prep boxes` then `prep empty` (serially or under mpirun) with the given overrides."""

import sys

from clusterhpc.cli import main

overrides = sys.argv[1:]
for stage in ("boxes", "empty"):
    code = main(["prep", stage, "configs/tiny.yaml", *overrides])
    if code:
        sys.exit(code)
