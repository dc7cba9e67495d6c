"""SQL statements per server process, for bench/streams.py, with DEBUG off.

Enabled only when BENCH_QUERY_COUNT_DIR is set (bench/gunicorn_bench.conf.py calls
`install()` in each worker after it has loaded the app). Each process keeps its count in
an 8-byte file `<dir>/<pid>` through mmap, so the bench reads it at any moment without
asking the server. In a Django process every statement sent through a Django cursor is
counted by an execute wrapper added to each new connection (`connection_created`);
BEGIN/COMMIT that psycopg sends for `transaction.atomic` are not statements and are not
counted. A process without Django (bench/baseline_asgi.py) calls `count()` itself.
"""

import mmap
import os
import struct
import sys
import threading

_lock = threading.Lock()
_count = 0
_map = None


def count(n=1):
    global _count
    if _map is None:
        return
    with _lock:
        _count += n
        struct.pack_into("<Q", _map, 0, _count)


def _wrapper(execute, sql, params, many, context):
    count()
    return execute(sql, params, many, context)


def install():
    """Open this process's counter; in a Django process, count every statement."""
    global _map
    folder = os.environ.get("BENCH_QUERY_COUNT_DIR")
    if not folder or _map is not None:
        return
    path = os.path.join(folder, str(os.getpid()))
    with open(path, "wb") as f:
        f.write(b"\0" * 8)
    with open(path, "r+b") as f:
        _map = mmap.mmap(f.fileno(), 8)
    if "django.conf" in sys.modules:
        from django.conf import settings

        if settings.configured:
            from django.db.backends.signals import connection_created

            def add_wrapper(sender, connection, **kwargs):
                if _wrapper not in connection.execute_wrappers:
                    connection.execute_wrappers.append(_wrapper)

            connection_created.connect(add_wrapper, weak=False)


def read(folder, pids):
    """The summed counts of `pids` (processes that never counted read as 0)."""
    total = 0
    for pid in pids:
        try:
            with open(os.path.join(folder, str(pid)), "rb") as f:
                total += struct.unpack("<Q", f.read(8))[0]
        except (OSError, struct.error):
            pass
    return total
