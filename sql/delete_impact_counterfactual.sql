-- The counterfactual paths are replaced with the impact results (see insert_impact_counterfactual).
delete from impact_counterfactual
