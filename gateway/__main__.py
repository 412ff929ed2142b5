"""``python -m gateway`` is ``event-gateway``."""

from gateway.command import main

main()
