"""Notebook user interface: the ipywidgets launcher, the live view, and the messages they share with the CLI."""
