"""edgernn.report: report.html for a run folder (matplotlib, the report extra); uses runtime only."""
