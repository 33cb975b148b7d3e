-- Current values with their robust z-score against the same site's and KPI's history, beyond
-- $limit. The centre is the median of the same season (calendar month, or ISO week) over the
-- years, so a yearly August or Christmas is not an outlier; the scale is the median absolute
-- deviation from those centres over the whole history.
with seasoned as (
    select
        *,
        case grain when 'week' then weekofyear(period_start) else month(period_start) end
            as season
    from kpi_values
    where value is not null
),

centred as (
    select
        *,
        value - median(value) over (partition by site, kpi, season) as residual
    from seasoned
),

scored as (
    -- 1.4826 x MAD estimates a standard deviation; where most residuals are exactly 0 (MAD 0),
    -- 1.2533 x the mean absolute deviation does.
    select
        *,
        residual / coalesce(
            nullif(1.4826 * median(abs(residual)) over (partition by site, kpi), 0),
            nullif(1.2533 * avg(abs(residual)) over (partition by site, kpi), 0)
        ) as robust_z
    from centred
)

select
    f.original_name as file,
    s.sheet,
    s."row",
    s."column",
    s.site,
    s.period_start,
    s.kpi,
    s.value,
    round(s.robust_z, 1) as robust_z
from scored as s
left join file_names as f on f.sha256 = s.file_sha256
where abs(s.robust_z) > $limit
order by abs(s.robust_z) desc
