-- Cells with their site, period and KPI interpreted (through the key maps Python built) and
-- their value read as a number: numeric cells as they are, text in the source's locale
-- (`reading`: one row with the grain, the locale and the missing markers).
-- A view: each reader computes what it needs (the checks a few columns, the insert all of them)
-- and a million cells are never stored twice.
-- A plain text number (`1234,5`) takes a quick cast; only the other text (spaces, `€`, `%`,
-- thousands separators, missing markers) is cleaned and read in full (CASE evaluates each branch
-- on its own rows only). `unparsed` marks text that is neither a number nor a missing marker:
-- Python explains it, and its reading, if any, is in `fixed_values`. `key` is one exact integer
-- per site, period and KPI (site id, days since 1900, KPI id), to find repeats.
create or replace temp view parsed_cells as
with mapped as (
    select
        c.seq,
        (s.site_id << 32) + (datediff('day', date '1900-01-01', p.period_start) << 8) + k.kpi_id
            as key,
        s.site,
        p.period_start,
        r.grain,
        r.locale,
        r.missing_markers,
        k.kpi,
        k.unit,
        k.factor,
        k.cell_factor,
        k.is_percent_kpi,
        c.num,
        c.text,
        c.sheet,
        c."row",
        c."column",
        f.seq is not null as is_fixed,
        f.value as fixed_value
    from cells as c
    inner join site_map as s on s.site_key = coalesce(c.site_key, '')
    inner join period_map as p
        on p.period_key = coalesce(c.period_key, '')
        and p.year_hint = coalesce(c.year_hint, 0)
    inner join kpi_map as k on k.kpi_key = coalesce(c.kpi_key, '')
    cross join reading as r
    left join fixed_values as f on f.seq = c.seq
),

read as (
    select
        *,
        case
            when num is not null then num * cell_factor
            when text is null then null
            when locale = 'fr' and regexp_full_match(text, '[+-]?\d+(,\d+)?')
                then cast(replace(text, ',', '.') as double) * factor
            when locale = 'en' and regexp_full_match(text, '[+-]?\d+(\.\d+)?')
                then cast(text as double) * factor
        end as quick,
        case
            when quick is null and text is not null
                then regexp_replace(
                    trim(translate(text, chr(160) || chr(8239) || chr(8201) || chr(8199), '    ')),
                    '\s*(€|eur|euros?)$',
                    '',
                    'i'
                )
        end as cleaned,
        cleaned is not null and list_contains(missing_markers, lower(cleaned)) as is_missing,
        ends_with(cleaned, '%') as has_percent,
        regexp_replace(
            rtrim(case when has_percent then left(cleaned, -1) else cleaned end), ' +', ' ', 'g'
        ) as body
    from mapped
)

select
    seq,
    key,
    site,
    period_start,
    grain,
    kpi,
    unit,
    case
        when is_fixed then fixed_value
        when quick is not null or text is null then quick
        when is_missing or (has_percent and not is_percent_kpi) then null
        when locale = 'fr'
            and regexp_full_match(body, '[+-]?(\d{1,3}((\.\d{3})+|( \d{3})+)|\d+)(,\d+)?')
            then cast(replace(replace(replace(body, ' ', ''), '.', ''), ',', '.') as double)
            * factor
        when locale = 'en'
            and regexp_full_match(body, '[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?')
            then cast(replace(body, ',', '') as double) * factor
    end as value,
    sheet,
    "row",
    "column",
    text,
    coalesce(
        not is_fixed and quick is null and text is not null and not is_missing and value is null,
        false
    ) as unparsed
from read
