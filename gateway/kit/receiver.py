"""``python -m gateway.kit.receiver --port 8081``: a local stand-in for a tool, for trying a plugin by
hand. It listens on 127.0.0.1, answers every request ``200 {"ok": true}`` and prints each one as a
line of JSON (method, path, headers, body). Stop it with Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from gateway.kit.loopback import FakeService, RecordedRequest, Reply


def _printing(request: RecordedRequest) -> Reply:
    line = {"method": request.method, "path": request.path, "headers": request.headers,
            "body": request.body.decode("utf-8", "replace")}
    print(json.dumps(line), flush=True)
    return Reply(200, {"ok": True})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway.kit.receiver", description=__doc__)
    parser.add_argument("--port", type=int, default=8081, help="port on 127.0.0.1 (default 8081)")
    args = parser.parse_args(argv)
    stopped = threading.Event()

    def stop(*_: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        service = FakeService(_printing, port=args.port).start()
    except OSError as exc:
        sys.exit(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}")
    print(f"listening on {service.url}", file=sys.stderr, flush=True)
    stopped.wait()
    service.stop()


if __name__ == "__main__":
    main()
