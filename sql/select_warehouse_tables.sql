-- The warehouse's own tables (not views, not temporary), to read each one whole.
select table_name
from duckdb_tables()
where database_name = current_database() and not temporary
order by table_name
