-- The located cells of one file (`raw_cells`, keys as categoricals) with plain column types (a
-- view: read by each step, never copied), without the lines on which nothing at all is written.
create or replace temp view cells as
select
    seq,
    site_key::varchar as site_key,
    site_column::varchar as site_column,
    period_key::varchar as period_key,
    period_row::integer as period_row,
    period_column::varchar as period_column,
    year_hint::integer as year_hint,
    kpi_key::varchar as kpi_key,
    num::double as num,
    text::varchar as text,
    sheet::varchar as sheet,
    "row"::integer as "row",
    "column"::varchar as "column"
from raw_cells
where
    num is not null
    or coalesce(site_key::varchar, period_key::varchar, kpi_key::varchar, trim(text)) is not null
