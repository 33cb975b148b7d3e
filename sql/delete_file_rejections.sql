-- Rejections of a file stored by an earlier attempt.
delete from rejections
where file_sha256 = $sha256
