-- Files received from the client, newest first, for asset metadata.
select
    original_name,
    status,
    source,
    values_stored,
    received_at,
    left(sha256, 12) as sha256,
    message
from files
order by received_at desc, original_name
