-- The lines of a long CSV export below its header, read by DuckDB straight from the file (UTF-8
-- or latin-1), all columns as text. The table keeps the file's order, so a line's number is its
-- rowid plus `first_line` (cheaper than numbering the lines while reading); the letters of the
-- site, period and value columns ride along for `raw_cells`.
create or replace temp table csv_lines as
select
    $first_line::bigint as first_line,
    $site_column::varchar as site_column,
    $period_column::varchar as period_column,
    $value_column::varchar as value_column,
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
