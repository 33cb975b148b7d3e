-- The client's warehouse: every file received, every value delivered, every rejection.
-- Idempotent: run on every connection that writes.

create table if not exists files (
    sha256 varchar not null,
    original_name varchar not null,
    size_bytes bigint not null,
    source varchar,
    received_at timestamp not null,
    delivered_at timestamp not null,
    status varchar not null
        check (status in ('received', 'loaded', 'rejected', 'duplicate', 'quarantined')),
    message varchar,
    values_stored integer,
    validated_at timestamp,
    primary key (sha256, original_name)
);

create table if not exists kpi_observations (
    client varchar not null,
    site varchar not null,
    period_start date not null,
    grain varchar not null check (grain in ('month', 'week')),
    kpi varchar not null,
    value double,
    unit varchar not null,
    file_sha256 varchar not null,
    sheet varchar,
    "row" integer,
    "column" varchar,
    delivered_at timestamp not null
);

create table if not exists rejections (
    file_sha256 varchar not null,
    sheet varchar,
    "row" integer,
    "column" varchar,
    value varchar,
    rule varchar not null,
    message varchar not null
);

-- Current values come from loaded deliveries only: a delivery quarantined by a blocking check
-- leaves the values as they were before it.
create or replace view kpi_values as
select
    client,
    site,
    period_start,
    grain,
    kpi,
    value,
    unit,
    file_sha256,
    sheet,
    "row",
    "column",
    delivered_at
from kpi_observations
where file_sha256 in (select sha256 from files where status = 'loaded')
qualify row_number() over (
    partition by client, site, period_start, grain, kpi
    order by delivered_at desc, file_sha256 desc
) = 1;

-- The name each delivery (by SHA-256) was first received under, for messages and pages.
create or replace view file_names as
select sha256, min(original_name) as original_name
from files
where status <> 'duplicate'
group by sha256;
