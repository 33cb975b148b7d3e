-- The values parsed from one file (registered by the caller as `new_observations`).
insert into kpi_observations by name
select * from new_observations
