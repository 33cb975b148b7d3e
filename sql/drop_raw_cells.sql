-- The cells read from a CSV, once they are interpreted (or when they must be read again).
drop view if exists raw_cells;
drop table if exists csv_lines;
