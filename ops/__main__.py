"""`python -m ops`: the same as the `safety` console script."""

from ops.cli import main

main()
