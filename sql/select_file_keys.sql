-- Every (SHA-256, original name) the warehouse has received.
select sha256, original_name
from files
