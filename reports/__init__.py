"""Reports officers send upward: the XLSX/CSV export (``reports.exports``, streamed by ``reports.xlsx_stream``)
and the PNG charts (``reports.charts``). No messenger here: ``bot`` builds the files with these and sends
them; ``cdht export`` writes the same files at a desk. Imports go ``bot -> reports -> storage``."""
