-- A value given twice (identically) for the same site, period and KPI is kept once, at its first
-- place: the later ones are set aside. Only run when the file repeats itself.
insert into repeated_cells
select seq
from parsed_cells
where not unparsed
qualify row_number() over (partition by key order by seq) > 1
