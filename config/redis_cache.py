"""Django's Redis cache backend, keeping one redis.Redis client per connection pool, with
pipelines for callers that send several commands at once (api.throttling).

Django's RedisCacheClient builds a new redis.Redis for every cache call, and redis-py builds its
table of response callbacks (some 170 entries) in each: a third of a millisecond of CPU per call,
paid twice per throttle on every API request. A redis.Redis is safe to share between threads
(each command takes a connection from the pool), so one per pool serves the whole process.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}  # connection pool index -> redis.Redis

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient

    def pipeline(self):
        """A redis-py pipeline (no MULTI): its commands go in one round trip at execute(). Keys
        are the caller's to make, with make_and_validate_key()."""
        return self._cache.get_client(write=True).pipeline(transaction=False)
