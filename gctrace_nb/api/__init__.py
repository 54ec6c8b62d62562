"""Talking to Genesys Cloud (or the simulator): HTTP client, auth, retries, history, notifications."""
