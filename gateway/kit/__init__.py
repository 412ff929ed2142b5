"""The plugin author kit: what ``gateway.testing`` offers plugin authors (factories, an offline HTTP
client, the in-process harness, the conformance check) and the ``event-gateway plugins new``
scaffold. Import it through :mod:`gateway.testing`; the module layout here may change."""
