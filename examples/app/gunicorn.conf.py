"""gunicorn settings that fit the compiled Deployment (docs/database.md)."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get("WORKERS", "2"))
threads = 4
# SIGTERM arrives after the preStop delay (10 s of the 30 s grace period): finish the
# requests in flight within what is left, then exit before SIGKILL.
graceful_timeout = 15
timeout = 30
# The root filesystem is read-only; /tmp is the pod's emptyDir.
worker_tmp_dir = "/tmp"
accesslog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
