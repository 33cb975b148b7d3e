-- Cells with their site, period and KPI interpreted (through the key maps Python built) and
-- their value read as a number: numeric cells as they are, text in the source's locale.
-- Plain text numbers (`1234,5`) take a quick cast; only the others (spaces, `€`, `%`, thousands
-- separators, missing markers) go through the full reading. `unparsed` marks text that is
-- neither a number nor a missing marker: Python explains it.
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
        case
            when c.num is not null
                then c.num * k.factor
                * (case when k.is_percent_kpi and $fraction then 100 else 1 end)
            when
                c.text is not null
                and translate(c.text, '0123456789+-' || $decimal, '') = ''
                then try_cast(replace(c.text, $decimal, '.') as double) * k.factor
        end as quick
    from cells as c
    inner join site_map as s on s.site_key = coalesce(c.site_key, '')
    inner join period_map as p
        on p.period_key = coalesce(c.period_key, '')
        and p.year_hint = coalesce(c.year_hint, 0)
    inner join kpi_map as k on k.kpi_key = coalesce(c.kpi_key, '')
),

plain as (
    select * exclude (quick), quick as value, false as unparsed
    from mapped
    where quick is not null or text is null
),

cleaned as (
    select
        * exclude (quick),
        regexp_replace(
            trim(translate(text, chr(160) || chr(8239) || chr(8201) || chr(8199), '    ')),
            '\s*(€|eur|euros?)$',
            '',
            'i'
        ) as cleaned
    from mapped
    where quick is null and text is not null
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
    from cleaned
),

read as (
    select
        * exclude (cleaned, is_missing, has_percent, body),
        case
            when is_missing or (has_percent and not is_percent_kpi) then null
            when $locale = 'fr'
                and regexp_full_match(body, '[+-]?(\d{1,3}((\.\d{3})+|( \d{3})+)|\d+)(,\d+)?')
                then cast(replace(replace(replace(body, ' ', ''), '.', ''), ',', '.') as double)
                * factor
            when $locale = 'en'
                and regexp_full_match(body, '[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?')
                then cast(replace(body, ',', '') as double) * factor
        end as value,
        is_missing
    from shaped
)

select
    seq, site, period_start, $grain as grain, kpi, unit, value, sheet, "row", "column", text,
    unparsed
from plain
union all
select
    seq, site, period_start, $grain, kpi, unit, value, sheet, "row", "column", text,
    (not is_missing and value is null) as unparsed
from read
