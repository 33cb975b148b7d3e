-- The cells of a long CSV export, read by DuckDB straight from the file (UTF-8 or latin-1):
-- site, period, indicator and value columns as the header named them, lines numbered.
-- {site}, {period}, {indicator} and {value} are the columns' generated names (c0, c1, ...).
create or replace temp table raw_cells as
with numbered as (
    select
        row_number() over () + $first_line - 1 as line,
        *
    from read_csv(
        $path,
        delim = $delimiter,
        encoding = $encoding,
        header = false,
        skip = $skip,
        names = $names,
        all_varchar = true,
        null_padding = true
    )
)

select
    line as seq,
    {site} as site_key,
    $site_column as site_column,
    {period} as period_key,
    null::integer as period_row,
    $period_column as period_column,
    null::integer as year_hint,
    {indicator} as kpi_key,
    null::double as num,
    {value} as text,
    null::varchar as sheet,
    line::integer as "row",
    $value_column as "column"
from numbered
