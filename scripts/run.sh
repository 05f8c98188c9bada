#!/usr/bin/env bash
# Starts the task worker in the background and the web server in the foreground; stops both together.
# The web server is gunicorn as deployed (gunicorn.conf.py: threads, small answers sent at once), with
# --reload for development; Django's development server would add about 40 ms to every sandbox call
# (it writes a response's headers and body separately, and the client's delayed ACK holds the body).
set -euo pipefail
host="$1"
port="$2"
py=.venv/bin/python
mkdir -p .run
"$py" manage.py db_worker &
worker=$!
trap 'kill "$worker" 2>/dev/null || true' EXIT INT TERM
echo
echo "  Dashboard: http://${host}:${port}/   (demo users and passwords: see README.md)"
echo "  Task worker pid ${worker}. Press Ctrl-C to stop both."
echo
GUNICORN_BIND="${host}:${port}" WEB_CONCURRENCY="${WEB_CONCURRENCY:-1}" \
  "$py" -m gunicorn -c gunicorn.conf.py --reload --control-socket ".run/gunicorn.ctl" dashboard.wsgi
