"""Running the service: pre-fork server, health, metrics, status checks, node agreement, outages."""
