-- The results a report leads with: the preferred method of every site and KPI, client total
-- first.
select
    case when scope = 'client_total' then '(total)' else site end as site,
    kpi,
    method,
    n_before,
    n_after,
    round(rel_change_pct, 1) as change_pct,
    round(abs_change, 2) as abs_change,
    round(ci_low, 1) as ci_low,
    round(ci_high, 1) as ci_high,
    round(p_value, 4) as p_value,
    verdict
from impact
where preferred
order by kpi, scope = 'site', site
