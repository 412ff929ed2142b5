"""Flag actions for deliveries: :class:`FlagPlatform`, which a plugin's ``deliver_event`` (or
``deliver_batch``) finds in ``delivery.flag_platform`` when the gateway is connected to the flag
platform's API. (What the gateway turned off, ``integration.flag_holds``, is
:mod:`gateway.host.flag_holds`.)

It sends through the delivery's own :class:`~gateway.outbound.http.HttpClient`, so each call is one exchange
of the delivery's attempt log, under the same time-outs and target guard as any request of the
attempt, with the API token removed from everything recorded.
"""

from __future__ import annotations

from gateway.flagplatform.client import FlagPlatformClient
from gateway.outbound.http import HttpClient, HttpResponse


class FlagPlatform:
    """The flag platform's API, for the delivery at hand: ``FlagPlatform(http, api_url, api_token)``.

    The core makes one for each attempt from the flag-platform connection; tests make their own,
    pointed at a fake (:class:`gateway.kit.fake_flag_platform.FakeFlagPlatform`). The token is never
    shown: not by ``repr``, not in the attempt log (it is one of the client's secrets)."""

    def __init__(self, http: HttpClient, api_url: str, api_token: str):
        self._client = FlagPlatformClient(http, api_url, api_token)

    @property
    def api_url(self) -> str:
        """The API's base URL (no trailing slash), e.g. ``https://app.launchdarkly.com``."""
        return self._client.api_url

    def turn_flag(self, *, project_key: str, environment_key: str, flag_key: str, on: bool,
                  comment: str) -> HttpResponse:
        """Turn ``flag_key``'s targeting on (``on=True``) or off in one environment:
        ``PATCH {api_url}/api/v2/flags/{project_key}/{flag_key}`` with the semantic patch
        ``{"environmentKey": ..., "comment": ..., "instructions": [{"kind": "turnFlagOn"|"turnFlagOff"}]}``
        (content type ``application/json; domain-model=launchdarkly.semanticpatch``). Returns the
        answer, whatever its status: 200 is done; read the others as for any request (401/403 the
        token, 404 no such flag, 400 a refused instruction or environment, 429/5xx worth retrying).
        Raises :class:`gateway.TransportError` when no answer came, :class:`gateway.TargetNotAllowed`
        when the target guard refuses the API URL, and ``ValueError`` for empty keys or a non-bool ``on``."""
        return self._client.turn_flag(project_key=project_key, environment_key=environment_key,
                                      flag_key=flag_key, on=on, comment=comment)

    def __repr__(self) -> str:
        return f"FlagPlatform(api_url={self.api_url!r})"
