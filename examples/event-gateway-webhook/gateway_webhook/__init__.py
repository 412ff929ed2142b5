"""Example Flag Event Gateway plugin: POSTs each event as signed JSON to a URL."""
