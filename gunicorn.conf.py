"""gunicorn settings for production: threaded workers, since pages wait on Tatum over the network.

Every value can be overridden from the environment; see docs/deployment.md.
"""

import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
# Threads mostly wait on Tatum; in sandbox mode a page also calls the sandbox in the same process.
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
# Longer than the worst upstream wait: connect + read timeouts across the client's read retries.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = 500
# Only the proxies named here may set X-Forwarded-Proto (see SECURE_PROXY_SSL_HEADER).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# An empty GUNICORN_ACCESS_LOG turns the access log off (the request id is still in the app's log).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
errorlog = "-"


def when_ready(server):
    """Send small responses at once: gunicorn writes headers and body separately, and Nagle's
    algorithm would hold the body back for the client's delayed ACK (about 40 ms on Linux).
    Accepted connections inherit the option from the listening socket."""
    import contextlib
    import socket

    for listener in server.LISTENERS:
        with contextlib.suppress(OSError, AttributeError):
            listener.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
