-- Rows of the rebuilt KPI series.
select count(*) from kpi_series
