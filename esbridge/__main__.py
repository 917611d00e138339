"""`python -m esbridge`: the same as the `esbridge` command."""

from esbridge.cli import main

main()
