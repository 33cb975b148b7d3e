-- The results a report shows: the preferred method of every site and KPI.
select *
from impact
where preferred
order by kpi, scope = 'site', site
