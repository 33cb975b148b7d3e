-- Cells with their site, period and KPI interpreted (through the key maps Python built) and
-- their value read as a number: numeric cells as they are, text in the source's locale.
-- `unparsed` marks text that is neither a number nor a missing marker: Python explains it.
create or replace temp table parsed_cells as
with mapped as (
    select
        c.seq,
        s.site,
        p.period_start,
        k.kpi,
        k.unit,
        k.factor,
        k.is_percent_kpi,
        c.num,
        c.text,
        c.sheet,
        c."row",
        c."column",
        regexp_replace(
            trim(translate(c.text, chr(160) || chr(8239) || chr(8201) || chr(8199), '    ')),
            '\s*(€|eur|euros?)$',
            '',
            'i'
        ) as cleaned
    from cells as c
    inner join site_map as s on s.site_key is not distinct from c.site_key
    inner join period_map as p
        on p.period_key is not distinct from c.period_key
        and p.year_hint is not distinct from c.year_hint
    inner join kpi_map as k on k.kpi_key is not distinct from c.kpi_key
),

shaped as (
    select
        *,
        list_contains($missing_markers, lower(cleaned)) as is_missing,
        ends_with(cleaned, '%') as has_percent,
        regexp_replace(
            rtrim(case when ends_with(cleaned, '%') then left(cleaned, -1) else cleaned end),
            ' +',
            ' ',
            'g'
        ) as body
    from mapped
),

valued as (
    select
        *,
        case
            when num is not null
                then num * factor * (case when is_percent_kpi and $fraction then 100 else 1 end)
            when text is null or is_missing then null
            when has_percent and not is_percent_kpi then null
            when $locale = 'fr'
                and regexp_full_match(body, '[+-]?(\d{1,3}((\.\d{3})+|( \d{3})+)|\d+)(,\d+)?')
                then cast(replace(replace(replace(body, ' ', ''), '.', ''), ',', '.') as double)
                * factor
            when $locale = 'en'
                and regexp_full_match(body, '[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?')
                then cast(replace(body, ',', '') as double) * factor
        end as value
    from shaped
)

select
    seq,
    site,
    period_start,
    $grain as grain,
    kpi,
    unit,
    value,
    sheet,
    "row",
    "column",
    text,
    (num is null and text is not null and not is_missing and value is null) as unparsed
from valued
