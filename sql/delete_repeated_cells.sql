-- A value given twice (identically) for the same site, period and KPI is kept once, at its first
-- place. Only run when the file repeats itself.
delete from parsed_cells
where seq in (
    select seq
    from parsed_cells
    where not unparsed
    qualify row_number() over (partition by site, period_start, kpi order by seq) > 1
)
