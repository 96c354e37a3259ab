"""Helpers for running the project on one machine, in development and in deployment: the
redis-server processes of our own (`redis_server`) and, among them, the embedded Redis of a
data folder, started or found (`embedded`); the parent of `bot serve --workers N`
(`supervisor`); HTTPS (`tls`). Nothing here answers a customer."""
