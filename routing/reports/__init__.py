"""The managers' reports and the dashboard: one module per report, the shared parts in
``common`` (period, filters, tables, CSV, chart data, percentiles), the admin pages in
``pages``. Each report's numbers come from one selector that takes a period and filters and
returns plain rows, aggregated in SQL."""
