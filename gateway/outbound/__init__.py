"""The way out: the HTTP client handed to plugins, the target guard, address rules and pinning."""
