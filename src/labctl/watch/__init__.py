"""``labctl check --watch``: the learner's loop of edit, save, verdict.

``session`` runs the loop (a warm next run started as soon as a run has its verdict, the stage
that failed last time graded first, a run given up for a newer change), ``changes`` says what
counts as a change and waits for one, ``keys`` reads the terminal, ``screen`` prints.
"""

from __future__ import annotations

from labctl.watch.screen import Screen
from labctl.watch.session import Watching, watch

__all__ = ["Screen", "Watching", "watch"]
