-- The values of the file, ready to store (a view: nothing is copied; `seq` keeps file order).
create or replace temp view new_observations as
select
    seq,
    site,
    period_start,
    grain,
    kpi,
    value,
    unit,
    sheet,
    "row",
    "column"
from parsed_cells
where not unparsed
