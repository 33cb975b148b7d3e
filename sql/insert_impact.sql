-- The new results of the `impact` asset, registered as `impact_rows`.
insert into impact by name
select * from impact_rows
