"""The way in: webhook routes, request bodies, signing warnings, deciding and accepting events."""
