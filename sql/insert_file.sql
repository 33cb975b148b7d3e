-- Record a file received in the inbox (status: received or duplicate).
insert into files (
    sha256, original_name, size_bytes, source, received_at, delivered_at, status, message
)
values ($sha256, $original_name, $size_bytes, $source, $received_at, $delivered_at, $status, $message)
