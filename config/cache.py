"""Django's Redis cache, with one connection pool per process.

Django makes a cache object per request context (caches are async-safe that way), and each
of Django's Redis cache objects builds a client with connection pools of its own: every
request opened a new connection to Redis and dropped it at the end. Here every cache object
of one configuration shares one client, so its pools (thread-safe) are kept and reused.
"""

import threading

from django.core.cache.backends.redis import RedisCache
from django.utils.functional import cached_property

_clients = {}
_clients_lock = threading.Lock()


class SharedPoolRedisCache(RedisCache):
    @cached_property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with _clients_lock:
            if key not in _clients:
                _clients[key] = self._class(self._servers, **self._options)
            return _clients[key]
