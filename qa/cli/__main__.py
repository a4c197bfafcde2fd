"""``python -m qa.cli`` runs the CLI."""

from . import main

main()
