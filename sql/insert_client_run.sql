-- A client run has started with these inputs (a retried step records the same run once).
insert or replace into client_runs (run_id, inputs_fingerprint, started_at, completed_at)
values ($run_id, $fingerprint, $started_at, null)
