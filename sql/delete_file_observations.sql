-- Values of a file stored by an earlier attempt, so that a retry never stores them twice.
delete from kpi_observations
where file_sha256 = $sha256
