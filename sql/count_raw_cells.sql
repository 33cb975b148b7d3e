-- How many cells (lines) were read.
select count(*) from raw_cells
