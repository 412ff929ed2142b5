"""Built-in behaviour, registered as ordinary plugins."""
