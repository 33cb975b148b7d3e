-- Every KPI of the client per site and period, base and derived, plus two totals per period:
-- the client (its transformed sites) and the pooled control sites. Reads the registered
-- relations `derived_definitions` (kpi, numerator, denominator, factor, unit), `site_groups`
-- (site, scope: 'client_total' or 'controls_total'), `additive_kpis` (kpi) and
-- `price_indices` (kpi, period_start, grain, price_index: a money KPI at constant prices is
-- divided by its index before any ratio or total).
-- A derived value exists only where both its parts exist and the denominator is not zero; a total
-- of a base KPI is the sum of the sites' values, a total of a ratio the ratio of the sums; a total exists only for periods where every site of its
-- group that ever reported the KPI (or both its parts) reported it.
create or replace table kpi_series as
with base as (
    select
        v.site,
        v.period_start,
        v.grain,
        v.kpi,
        v.value / coalesce(i.price_index, 1.0) as value,
        v.unit
    from kpi_values as v
    left join price_indices as i
        on i.kpi = v.kpi and i.period_start = v.period_start and i.grain = v.grain
    where v.value is not null
),

pairs as (
    select
        numerator.site,
        numerator.period_start,
        numerator.grain,
        d.kpi,
        d.factor,
        d.unit,
        numerator.value as numerator_value,
        denominator.value as denominator_value
    from derived_definitions as d
    inner join base as numerator on numerator.kpi = d.numerator
    inner join base as denominator
        on
            denominator.kpi = d.denominator
            and denominator.site = numerator.site
            and denominator.period_start = numerator.period_start
            and denominator.grain = numerator.grain
),

per_site as (
    select site, period_start, grain, kpi, value, unit
    from base
    union all
    select
        site,
        period_start,
        grain,
        kpi,
        factor * numerator_value / denominator_value as value,
        unit
    from pairs
    where denominator_value <> 0
),

additive_parts as (
    select g.scope, b.site, b.period_start, b.grain, b.kpi, b.unit, b.value as numerator_value,
        null::double as denominator_value, 1.0 as factor
    from base as b
    inner join site_groups as g on g.site = b.site
    semi join additive_kpis as a on a.kpi = b.kpi
    union all
    select g.scope, p.site, p.period_start, p.grain, p.kpi, p.unit, p.numerator_value,
        p.denominator_value, p.factor
    from pairs as p
    inner join site_groups as g on g.site = p.site
),

reporting_sites as (
    select scope, kpi, grain, count(distinct site) as sites
    from additive_parts
    group by scope, kpi, grain
),

totals as (
    select
        p.scope,
        p.period_start,
        p.grain,
        p.kpi,
        any_value(p.unit) as unit,
        case
            when count(p.denominator_value) = 0 then sum(p.numerator_value)
            else any_value(p.factor) * sum(p.numerator_value) / sum(p.denominator_value)
        end as value,
        count(distinct p.site) as sites
    from additive_parts as p
    group by p.scope, p.period_start, p.grain, p.kpi
    having count(p.denominator_value) = 0 or sum(p.denominator_value) <> 0
)

select site, period_start, grain, kpi, value, unit, 'site' as scope
from per_site
union all
select '__' || t.scope || '__' as site, t.period_start, t.grain, t.kpi, t.value, t.unit, t.scope
from totals as t
inner join reporting_sites as r on r.scope = t.scope and r.kpi = t.kpi and r.grain = t.grain
where t.sites = r.sites
order by scope, site, kpi, grain, period_start
