-- The values parsed from one file (the temp table `new_observations`), with their delivery.
insert into kpi_observations by name
select
    $client as client,
    site,
    period_start,
    grain,
    kpi,
    value,
    unit,
    $sha256 as file_sha256,
    sheet,
    "row",
    "column",
    $delivered_at as delivered_at
from new_observations
