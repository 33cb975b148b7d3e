-- What the checks of one file set aside, for the `parsed_cells` and `new_observations` views:
-- the values Python read where SQL could not, and the later copies of a value given twice.
create or replace temp table fixed_values (seq bigint not null, value double);
create or replace temp table repeated_cells (seq bigint not null);
