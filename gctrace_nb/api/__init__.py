"""Talking to Genesys Cloud (or the simulator): settings, OAuth, rate limit, retries, the client,
flow execution history and notifications (channels, subscriptions, the live watch).

Only :mod:`requests` is needed here (and :mod:`websockets`, imported when a watch connects);
nothing in this package draws or prints.
"""
