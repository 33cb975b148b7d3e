-- Each distinct site, period and KPI key of the cells, how many cells carry it and
-- the first place where it is written: the keys are few, so Python interprets them one by one.
select
    'site' as kind,
    site_key as key,
    null::integer as year_hint,
    count(*) as cells,
    arg_min(sheet, seq) as sheet,
    arg_min("row", seq) as "row",
    arg_min(coalesce(site_column, "column"), seq) as "column"
from cells
group by site_key
union all
select
    'period',
    period_key,
    year_hint,
    count(*),
    arg_min(sheet, seq),
    arg_min(coalesce(period_row, "row"), seq),
    arg_min(coalesce(period_column, "column"), seq)
from cells
group by period_key, year_hint
union all
select
    'kpi',
    kpi_key,
    null,
    count(*),
    arg_min(sheet, seq),
    arg_min("row", seq),
    arg_min("column", seq)
from cells
group by kpi_key
