"""Django's Redis cache backend, keeping one redis.Redis client per connection pool.

Django's RedisCacheClient builds a new redis.Redis for every cache call, and redis-py builds its
table of response callbacks (some 170 entries) in each: 0.14 ms of CPU per call against 0.05 ms
with one client (measured on the bench machine), paid four times per API request by DRF's two
throttles (a get and a set each): about 0.4 ms of the 5.3 ms of CPU gunicorn spends per drop-off
POST when it was measured, with single POSTs then at 14.5% of the minimal drop-off (target 15%,
bench/bench_api.py; 15.9% on 2026-12-04 with the raw write path, gunicorn 9.2 ms per POST). A
redis.Redis is safe to share between threads (each command takes a connection from the pool),
so one per pool serves the whole process.
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
