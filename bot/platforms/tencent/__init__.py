"""Tencent Cloud Chat (IM): third-party callback authentication and parsing."""
