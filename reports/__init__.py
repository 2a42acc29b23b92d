"""Self-contained HTML reports of pipeline and monitoring runs (plotly.js
inlined once per page: they open with no network)."""
