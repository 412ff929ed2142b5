"""``python -m gateway`` is ``event-gateway``."""

from gateway.admin.cli import main

main()
