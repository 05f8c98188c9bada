"""Closing a client's TCP connection from inside a view, without sending a response.

WSGI hides the socket, but the servers the project runs on expose it: gunicorn in
`environ["gunicorn.socket"]`, and Django's development server (and the test `live_server`) behind
`environ["wsgi.input"]`, a stream wrapping the socket's file object. Shutting the socket down makes
the client see the connection close with no response at all; whatever the server then tries to write
fails with a broken pipe, which both servers ignore quietly.
"""

from __future__ import annotations

import logging
import socket
import struct
from typing import Any

from django.http import HttpRequest

logger = logging.getLogger(__name__)

# Attributes through which a request stream reaches its socket: LimitedStream -> bound read method
# -> BufferedReader -> SocketIO -> socket (and the names other WSGI servers use for the same hops).
_STREAM_LINKS = ("_sock", "raw", "_read", "__self__", "stream", "_stream", "rfile", "fp", "_fp")
_MAX_DEPTH = 8


def _find_socket(obj: Any, depth: int = 0) -> socket.socket | None:
    if isinstance(obj, socket.socket):
        return obj
    if obj is None or depth >= _MAX_DEPTH:
        return None
    for name in _STREAM_LINKS:
        link = getattr(obj, name, None)
        if link is not None and link is not obj:
            found = _find_socket(link, depth + 1)
            if found is not None:
                return found
    return None


def request_socket(request: HttpRequest) -> socket.socket | None:
    environ = getattr(request, "environ", {})
    candidate = environ.get("gunicorn.socket")
    if isinstance(candidate, socket.socket):
        return candidate
    return _find_socket(environ.get("wsgi.input"))


def drop_connection(request: HttpRequest) -> bool:
    """Shuts the request's connection down; False when this server does not expose its socket."""
    sock = request_socket(request)
    if sock is None:
        logger.warning("Cannot reach the client socket under this server: the drop fault degrades to a 502.")
        return False
    try:
        # Linger 0: when the server finally closes the socket, it resets instead of lingering.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        logger.warning("Shutting the client connection down failed.", exc_info=True)
        return False
    return True
