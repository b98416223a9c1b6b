"""Graders for the url-shortener lab: one module per stage, each read top to bottom as a script."""
