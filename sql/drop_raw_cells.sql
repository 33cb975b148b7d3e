-- The cells read from a CSV, once they are interpreted (or when they must be read again).
drop table if exists raw_cells
