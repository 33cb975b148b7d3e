-- How many files have each status.
select status, count(*)
from files
group by status
order by status
