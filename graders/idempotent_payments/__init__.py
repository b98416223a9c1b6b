"""Graders for the idempotent-payments lab: one module per stage, and ``bank.py``, the stub bank
the service charges (declared as ``[upstreams.bank]`` in lab.toml)."""
