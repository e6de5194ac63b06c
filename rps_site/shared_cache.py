"""The Django cache the workers share (Redis, with `RPS_REDIS_URL`): what DRF's throttles count in.

An unreachable Redis must not look like a bug: a request that needs the shared counts is answered
503 naming what is missing (the export then fails closed), after one quick retry, never a long
backoff that would hold a worker thread.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError
from rest_framework.exceptions import APIException


class SharedStateUnavailable(APIException):
    status_code = 503
    default_detail = "The store the workers share (Redis) is unreachable; retry later."
    default_code = "shared_state_unavailable"


def _answered(method: Any) -> Any:
    def call(self: SharedRedisCache, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (RedisError, OSError) as error:
            raise SharedStateUnavailable() from error

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class SharedRedisCache(RedisCache):
    get = _answered(RedisCache.get)
    set = _answered(RedisCache.set)
    add = _answered(RedisCache.add)
    delete = _answered(RedisCache.delete)
    incr = _answered(RedisCache.incr)
    touch = _answered(RedisCache.touch)
    has_key = _answered(RedisCache.has_key)
    get_many = _answered(RedisCache.get_many)
    set_many = _answered(RedisCache.set_many)
    delete_many = _answered(RedisCache.delete_many)
    clear = _answered(RedisCache.clear)
