-- The KPIs and the sites (totals included) of `kpi_series`, each in order.
select
    (select coalesce(list(distinct kpi order by kpi), []) from kpi_series) as kpis,
    (select coalesce(list(distinct site order by site), []) from kpi_series) as sites
