"""Reporters: each reads a ``labctl.results.Result`` and nothing else.

``render_terminal`` prints the learner's report; ``write_json``, ``write_junit`` and
``write_html`` write files through ``write_atomic``, so a report file is either complete or
absent. Hidden checks appear in every report by title and status only, unless it is made with
``reveal`` (the grader's copy). More reporters: ``classroom`` (GitHub Classroom), ``github``
(Actions summary, annotations, outputs), ``cohort`` (CSV and HTML of many results), ``outputs``
(what one check writes).
"""

from __future__ import annotations

from labctl.report._atomic import write_atomic
from labctl.report.html import write_html
from labctl.report.json import write_json
from labctl.report.junit import write_junit
from labctl.report.terminal import render_terminal

__all__ = ["render_terminal", "write_atomic", "write_html", "write_json", "write_junit"]
