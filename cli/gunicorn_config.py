"""gunicorn settings for Fengqiao's web processes in production (README, Deployment):

    gunicorn -c python:cli.gunicorn_config -w 4 -b 0.0.0.0:8000 'web:create_app()'

Options given on the command line override these.
"""

import sys

from cli.server import prepare_worker
from engine import Settings

# Threads: a request mostly waits on PostgreSQL, and a web process keeps its parsed specs and its
# recently saved workflows (engine/workflow_cache.py) for all of its threads.
worker_class = "gthread"
threads = 4
graceful_timeout = 10


def post_worker_init(worker) -> None:
    prepare_worker(worker)


def on_starting(server) -> None:
    """A bad FENGQIAO_* value stops the master with one line naming it, before any worker boots (a
    worker failing in create_app() would print a traceback, and gunicorn would only say it failed)."""
    try:
        Settings.from_env()
    except ValueError as exc:
        sys.exit(f"Error: configuration: {exc}")
