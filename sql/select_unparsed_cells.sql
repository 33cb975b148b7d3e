-- Text cells that are neither numbers nor missing markers, in file order: Python says why.
select seq, kpi, text, sheet, "row", "column"
from parsed_cells
where unparsed
order by seq
limit $limit
