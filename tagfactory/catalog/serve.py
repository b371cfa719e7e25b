"""``tagfactory catalog --serve``: the built folder over HTTP on 127.0.0.1 only (the standard library's server)."""

from __future__ import annotations

import functools
import http.server
from pathlib import Path


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def make_server(folder: Path, port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A server of ``folder`` bound to 127.0.0.1 (``port`` 0: any free port)."""
    handler = functools.partial(_Quiet, directory=str(folder))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


def serve(folder: Path, port: int = 8000) -> None:
    """Serve ``folder`` until Ctrl-C."""
    with make_server(folder, port) as server:
        host, bound = str(server.server_address[0]), int(server.server_address[1])
        print(f"serving {folder} at http://{host}:{bound}/index.html (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped")
