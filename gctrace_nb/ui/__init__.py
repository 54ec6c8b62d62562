"""Notebook widgets: the trace launcher and the live view (the only modules importing ipywidgets)."""
