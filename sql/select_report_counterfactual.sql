-- The model's level without the transformation, per period, of each preferred result that has
-- one (table impact_counterfactual, when the impact asset writes it).
select
    counterfactual.site,
    counterfactual.kpi,
    counterfactual.method,
    counterfactual.period_start,
    counterfactual.expected,
    counterfactual.low,
    counterfactual.high
from impact_counterfactual as counterfactual
inner join impact
    on impact.site = counterfactual.site
    and impact.kpi = counterfactual.kpi
    and impact.method = counterfactual.method
    and impact.preferred
order by counterfactual.site, counterfactual.kpi, counterfactual.period_start
