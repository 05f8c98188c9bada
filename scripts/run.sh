#!/usr/bin/env bash
# Starts the task worker in the background and the web server in the foreground; stops both together.
set -euo pipefail
host="$1"
port="$2"
py=.venv/bin/python
"$py" manage.py db_worker &
worker=$!
trap 'kill "$worker" 2>/dev/null || true' EXIT INT TERM
echo
echo "  Dashboard: http://${host}:${port}/   (demo users and passwords: see README.md)"
echo "  Task worker pid ${worker}. Press Ctrl-C to stop both."
echo
"$py" manage.py runserver "${host}:${port}"
