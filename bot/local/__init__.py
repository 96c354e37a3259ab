"""Helpers for running the project on one machine, in development and in deployment: the
embedded redis-server (`redis_server`), the parent of `bot serve --workers N`
(`supervisor`) and HTTPS (`tls`). Nothing here answers a customer."""
