-- Whether the warehouse has a table of this name (in its main schema).
select count(*)
from duckdb_tables()
where table_name = $name and schema_name = 'main'
