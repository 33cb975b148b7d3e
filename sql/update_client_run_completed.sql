-- The client run reached its last stage: its inputs are processed.
update client_runs
set completed_at = $completed_at
where run_id = $run_id
