-- How many values the file being loaded holds.
select count(*) from new_observations
