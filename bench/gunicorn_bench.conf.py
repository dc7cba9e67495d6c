"""gunicorn settings for bench/streams.py: gunicorn.conf.py unchanged, plus a hook.

    gunicorn -c bench/gunicorn_bench.conf.py config.asgi:application

Every setting comes from the project's gunicorn.conf.py (worker class, timeouts, backlog,
WEB_CONCURRENCY, ...). The only addition is `post_worker_init`: when
BENCH_QUERY_COUNT_DIR is set, each worker, once it has loaded the app, installs
bench/querycount.py, which counts the SQL statements it sends. Benchmark code stays out
of the application packages. The same file serves bench/baseline_asgi.py, so both
servers run with exactly the same gunicorn settings.
"""

import runpy
import sys
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
_project = runpy.run_path(str(_BENCH.parent / "gunicorn.conf.py"))
globals().update({name: value for name, value in _project.items() if not name.startswith("_")})
_project_post_worker_init = _project.get("post_worker_init")


def post_worker_init(worker):
    if _project_post_worker_init is not None:
        _project_post_worker_init(worker)
    if str(_BENCH) not in sys.path:
        sys.path.insert(0, str(_BENCH))
    import querycount

    querycount.install()
