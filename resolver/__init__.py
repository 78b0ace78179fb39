"""Caching stub resolver: TTL cache, negative cache, serve-stale, prefetch, ECS (pure); upstream client and listener (shells)."""
