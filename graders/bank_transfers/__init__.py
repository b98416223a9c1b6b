"""Graders for the bank-transfers lab: one module per stage. The concurrent stages record every
request in a history (``_traffic.py``) and judge it with ``labctl.history.bank``."""
