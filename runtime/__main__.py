"""Run the CLI as `python -m runtime` (what the tests do: same interpreter, no PATH lookup)."""

from runtime.cli import main

main()
