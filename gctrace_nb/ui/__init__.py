"""Notebook user interface: the ipywidgets launcher and the messages it shares with the CLI."""
