"""`python -m beemo` is the same as the `beemo` command."""

from beemo.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
