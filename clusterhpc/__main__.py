"""`python -m clusterhpc` is the `clusterhpc` command."""

from clusterhpc.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
