"""What a person reads after a run: the Pareto plot, the architecture chart, the
per-layer latency on the board and the summary table, as ``report.md``."""

from .document import (
    REPORT_FILE,
    network_name,
    read_run,
    report_run,
    summary_frame,
    summary_text,
    write_report,
)
from .pareto import pareto_front, plot_pareto

__all__ = ["REPORT_FILE", "network_name", "pareto_front", "plot_pareto", "read_run", "report_run",
           "summary_frame", "summary_text", "write_report"]
