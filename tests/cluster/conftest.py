from tests.cluster.redis_server import redis_prefix, redis_url

__all__ = ["redis_prefix", "redis_url"]
