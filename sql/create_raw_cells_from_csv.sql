-- The cells of a long CSV export (`csv_lines`): site, period, indicator and value columns as
-- the header named them, with their line numbers.
-- {site}, {period}, {indicator} and {value} are the columns' generated names (c0, c1, ...).
create or replace temp view raw_cells as
select
    rowid + first_line as seq,
    {site} as site_key,
    site_column as site_column,
    {period} as period_key,
    null::integer as period_row,
    period_column as period_column,
    null::integer as year_hint,
    {indicator} as kpi_key,
    null::double as num,
    {value} as text,
    null::varchar as sheet,
    (rowid + first_line)::integer as "row",
    value_column as "column"
from csv_lines
