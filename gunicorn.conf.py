"""Production server settings: `gunicorn config.asgi:application`.

gunicorn reads this file from the working directory (or `-c gunicorn.conf.py`); anything
given on the command line wins. gunicorn is the process manager; each worker process is
a uvicorn event loop running the ASGI app, so a streaming run holds a coroutine, not a
worker. `bench/run_path.py` and `bench/burst.py` measure this configuration.

Environment:
  PORT              port to listen on, all interfaces (default 8000)
  WEB_CONCURRENCY   worker processes (default 2; about one per CPU core)
  FORWARDED_ALLOW_IPS  proxies trusted for X-Forwarded-* (gunicorn's own setting;
                    default 127.0.0.1)
"""

import os

# The app when none is named on the command line.
wsgi_app = "config.asgi:application"

# uvicorn's gunicorn worker, from the `uvicorn-worker` package (the module inside uvicorn
# is deprecated). It runs uvloop and httptools when installed (they are dependencies).
worker_class = "uvicorn_worker.UvicornWorker"

bind = f"0.0.0.0:{int(os.environ.get('PORT', '8000'))}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))

# Streams are long, so no setting here limits a request's duration:
# - timeout: seconds of silence from a worker before the master kills and replaces it,
#   cutting every stream it holds. A uvicorn worker reports in from its event loop only
#   every timeout/2 seconds, so an event loop lagging more than that under a burst (seen
#   with 1,000 streams opened at once on 2 cores and the default 30) is killed; 120
#   leaves a minute of lag before a worker counts as stuck.
timeout = 120
# - graceful_timeout: on restart/deploy (SIGTERM, SIGHUP) workers stop accepting and get
#   this long to finish open streams; above OPENAI_TIMEOUT_SECONDS (60 s) so a run that
#   started before the restart can end and be recorded instead of being cut off.
graceful_timeout = 75
# - keepalive: seconds an idle connection is kept open between requests. An open stream
#   is not idle, so this never cuts one. Behind a load balancer, set it above the
#   balancer's idle timeout (e.g. 65 for a 60 s one) so it is always the balancer that
#   closes idle connections first.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Pending connections the kernel queues while a worker is busy accepting (a burst of
# submits); capped by net.core.somaxconn.
backlog = 2048

# The heartbeat file in memory, not on a possibly slow or full disk (containers).
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
