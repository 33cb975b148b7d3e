-- The codes of `select_unvalidated_observations`, per dimension in code order.
select dimension, value
from pending_dimensions
order by dimension, code
