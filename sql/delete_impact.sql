-- The impact results are replaced whole by each run (see insert_impact).
delete from impact
