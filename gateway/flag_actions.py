"""Flag actions for deliveries: :class:`FlagPlatform`, which a plugin's ``deliver_event`` (or
``deliver_batch``) finds in ``delivery.flag_platform`` when the gateway is connected to the flag
platform's API; and :class:`FlagHolds`, the gateway's memory of which flags its integrations turned
off and for what (``integration.flag_holds``), each hold and release also an automatic entry of the
audit log, written in the same transaction.

It sends through the delivery's own :class:`~gateway.http.HttpClient`, so each call is one exchange
of the delivery's attempt log, under the same time-outs and target guard as any request of the
attempt, with the API token removed from everything recorded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import audit
from .flagplatform.client import FlagPlatformClient
from .http import HttpClient, HttpResponse

if TYPE_CHECKING:
    from .store.flag_holds import FlagHoldStore


class FlagPlatform:
    """The flag platform's API, for the delivery at hand: ``FlagPlatform(http, api_url, api_token)``.

    The core makes one for each attempt from the flag-platform connection; tests make their own,
    pointed at a fake (:class:`gateway.fake_flag_platform.FakeFlagPlatform`). The token is never
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


@dataclass(frozen=True)
class FlagHold:
    """A flag this gateway turned off: which, for what (``cause``, ``label`` for people), by which
    integration and when (``held_at``, seconds since the epoch)."""

    project_key: str
    environment_key: str
    flag_key: str
    cause: str
    label: str
    integration_id: str
    held_at: float


class FlagHolds:
    """Which flags this gateway turned off, and for what: one hold per flag and environment, shared by
    every integration. An integration records a hold once its action turned a flag off
    (:meth:`hold`; the last one wins) and removes it once one of its actions turned the flag back on
    (:meth:`release`); before turning a flag back on for a cause, it asks :meth:`holder` whether the
    flag is still off for that cause. A plugin finds it in ``integration.flag_holds`` (None where the
    gateway keeps no store, as in unit tests)."""

    def __init__(self, store: FlagHoldStore, integration_id: str):
        self._store = store
        self._integration_id = integration_id

    @staticmethod
    def _flag(project_key: str, environment_key: str, flag_key: str) -> str:
        if not all(isinstance(k, str) and k for k in (project_key, environment_key, flag_key)):
            raise ValueError("project_key, environment_key and flag_key must be non-empty strings")
        return f"{project_key}/{environment_key}/{flag_key}"

    def holder(self, project_key: str, environment_key: str, flag_key: str) -> FlagHold | None:
        """The hold on the flag, or None when this gateway did not turn it off (or turned it back on)."""
        row = self._store.get(self._flag(project_key, environment_key, flag_key))
        if row is None:
            return None
        return FlagHold(project_key, environment_key, flag_key, row.cause, row.label, row.integration_id, row.held_at)

    def hold(self, project_key: str, environment_key: str, flag_key: str, *, cause: str, label: str = "") -> None:
        """Record that this integration's action turned the flag off, for ``cause`` (at most 400 characters)."""
        from .store.flag_holds import HoldRow

        if not isinstance(cause, str) or not cause or len(cause) > 400:
            raise ValueError("cause must be a string of 1 to 400 characters")
        flag = self._flag(project_key, environment_key, flag_key)
        entry = audit.prepared("flag.turned_off", "automatic", flag=flag, integration=self._integration_id, cause=cause)
        self._store.put(HoldRow(flag, self._integration_id, cause, label or cause, time.time()), audit=entry)
        audit.log_line(entry)

    def release(self, project_key: str, environment_key: str, flag_key: str) -> None:
        """Record that an action turned the flag back on: it is no longer off by this gateway."""
        flag = self._flag(project_key, environment_key, flag_key)
        entry = audit.prepared("flag.turned_on", "automatic", flag=flag, integration=self._integration_id)
        self._store.remove(flag, audit=entry)
        audit.log_line(entry)

    def __repr__(self) -> str:
        return f"FlagHolds(integration_id={self._integration_id!r})"
