"""`python -m socratic_distill` is the same as the `socratic-distill` command."""

from socratic_distill.cli import main

main()
