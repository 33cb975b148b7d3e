-- The configuration a file was rejected under (replacing an earlier one).
insert or replace into rejection_configs (sha256, config_sha256)
values ($sha256, $config_sha256)
