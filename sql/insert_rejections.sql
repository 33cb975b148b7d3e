-- The problems found in one file (registered by the caller as `new_rejections`).
insert into rejections by name
select * from new_rejections
