-- Every (SHA-256, original name) the warehouse has received, and when.
select sha256, original_name, received_at
from files
