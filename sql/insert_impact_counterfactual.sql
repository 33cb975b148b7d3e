-- The new counterfactual paths of the `impact` asset, registered as `counterfactual_rows`.
insert into impact_counterfactual by name
select * from counterfactual_rows
