-- Deliveries set aside that still wait for their correction (the view `waiting_deliveries`),
-- oldest first.
select
    original_name,
    sha256,
    status,
    received_at,
    message
from waiting_deliveries
order by received_at, delivered_at, original_name
