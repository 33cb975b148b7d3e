-- How many text cells are not plain numbers (`$plain_number`): only when there are any do the
-- cells need reading in full to find those that are not numbers at all.
select count(*)
from cells
where text is not null and not regexp_full_match(text, $plain_number)
