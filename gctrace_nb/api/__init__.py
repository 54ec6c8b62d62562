"""Talking to Genesys Cloud (or the simulator): settings, OAuth, rate limit, retries, the client.

Only :mod:`requests` is needed here; nothing in this package draws or prints.
"""
