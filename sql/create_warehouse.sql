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

-- Deliveries set aside (rejected on reading, or quarantined by a blocking check) that still
-- wait for their correction: no delivery of the same source (of any source, when none matched
-- the file) was loaded after them. "After" is received later, or in the same inbox pass as a
-- newer file (`delivered_at`): a correction dropped beside the bad file replaces it. A delivery
-- the consultant released (`cap release`) is loaded: it waits no more. The run summary, the
-- digest, the email's gate and the report's appendix all read this one view.
create or replace view waiting_deliveries as
select
    set_aside.original_name,
    set_aside.sha256,
    set_aside.status,
    set_aside.source,
    set_aside.received_at,
    set_aside.delivered_at,
    set_aside.message
from files as set_aside
where
    set_aside.status in ('rejected', 'quarantined')
    and not exists (
        select 1
        from files as later
        where
            later.status = 'loaded'
            and (set_aside.source is null or later.source = set_aside.source)
            and (
                later.received_at > set_aside.received_at
                or (
                    later.received_at = set_aside.received_at
                    and later.delivered_at > set_aside.delivered_at
                )
            )
    );

-- Every KPI per site and period, base and derived, and the totals (`create_kpi_series.sql`
-- rebuilds it from `kpi_values`).
create table if not exists kpi_series (
    site varchar not null,
    period_start date not null,
    grain varchar not null,
    kpi varchar not null,
    value double,
    unit varchar,
    scope varchar not null check (scope in ('site', 'client_total', 'controls_total'))
);

-- Before/after results: one row per site (or the client total, site '__client_total__'), KPI
-- and method; replaced whole by each run of the `impact` asset.
create table if not exists impact (
    client varchar not null,
    site varchar not null,
    scope varchar not null check (scope in ('site', 'client_total')),
    kpi varchar not null,
    label_fr varchar not null,
    label_en varchar not null,
    unit varchar not null,
    direction varchar not null,
    method varchar not null check (method in ('before_after', 'seasonal', 'did')),
    preferred boolean not null,
    basis varchar not null check (basis in ('relative', 'absolute')),
    go_live date not null,
    after_start date not null,
    n_before integer not null,
    n_after integer not null,
    mean_before double,
    mean_after double,
    abs_change double,
    rel_change_pct double,
    ci_low double,
    ci_high double,
    p_value double,
    counterfactual_after double,
    verdict varchar not null
        check (verdict in ('improved', 'worsened', 'no_significant_change', 'insufficient_data')),
    reason_fr varchar,
    reason_en varchar,
    target_change_pct double,
    target_due date,
    target_progress_pct double,
    sentence_fr varchar not null,
    sentence_en varchar not null,
    catalogue_version varchar not null
);

-- Warehouses made before the counterfactual model (their impact is rebuilt by the next run).
alter table impact drop column if exists level_change;
alter table impact drop column if exists slope_change;
alter table impact add column if not exists counterfactual_after double;

-- What each preferred result's KPI would have been without the transformation, period by
-- period from go-live on, with its 95 % band (KPI unit); replaced with `impact`.
create table if not exists impact_counterfactual (
    site varchar not null,
    kpi varchar not null,
    method varchar not null,
    period_start date not null,
    expected double not null,
    low double not null,
    high double not null
);

-- The inputs each client run saw (client.yaml, the inbox listing, Cap's code), as one
-- fingerprint: a run whose inputs equal those of the last completed run would change nothing.
create table if not exists client_runs (
    run_id varchar primary key,
    inputs_fingerprint varchar not null,
    started_at timestamp not null,
    completed_at timestamp
);

-- The configuration (SHA-256 of the validated client.yaml) each rejected file was read under:
-- a rejection the configuration decides (unknown site, header, encoding, ...) is read again
-- once it changes. A file rejected before this table existed has no row: it is read again once.
create table if not exists rejection_configs (
    sha256 varchar primary key,
    config_sha256 varchar not null
);
