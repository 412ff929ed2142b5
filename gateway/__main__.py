"""``python -m gateway`` is ``event-gateway``."""

from .cli import main

main()
