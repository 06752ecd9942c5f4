"""Reports: self-contained HTML pages (tables and matplotlib figures embedded as base64 PNG)."""

from spectral_edge.report.html import figure_to_data_uri, html_table, write_html_report

__all__ = ["figure_to_data_uri", "html_table", "write_html_report"]
