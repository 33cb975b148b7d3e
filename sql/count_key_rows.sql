-- On how many rows (or lines) a key that is being rejected appears, for the message.
select count(distinct "row")
from cells
where
    case $kind when 'site' then site_key when 'period' then period_key else kpi_key end
    is not distinct from $key
