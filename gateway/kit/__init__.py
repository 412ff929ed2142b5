"""The plugin author kit: what ``gateway.testing`` offers plugin authors (factories, an offline HTTP
client, the in-process harness, the conformance check, the fake services and the gateway process on
loopback), the fake flag platform, and the ``event-gateway plugins new`` and ``plugins check``
commands. Import it through :mod:`gateway.testing`; the module layout here may change."""
