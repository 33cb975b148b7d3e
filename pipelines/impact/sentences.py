"""One sentence per impact result, in French and in English, numbers formatted by Babel.

« Productivité (unités par heure) : +12,0 % (IC 95 % : +9,1 % à +14,8 %), amélioration
significative (corrigé de la saisonnalité et de la tendance). »
"""

from pipelines.formatting import percent, signed_number
from pipelines.impact.statistics import Estimate

VERDICTS = {
    "fr": {
        "improved": "amélioration significative",
        "worsened": "dégradation significative",
        "no_significant_change": "pas d'évolution significative",
    },
    "en": {
        "improved": "significant improvement",
        "worsened": "significant deterioration",
        "no_significant_change": "no significant change",
    },
}

METHODS = {
    "fr": {
        "before_after": "avant/après",
        "seasonal": "corrigé de la saisonnalité et de la tendance",
        "did": "par rapport aux sites témoins",
    },
    "en": {
        "before_after": "before/after",
        "seasonal": "adjusted for season and trend",
        "did": "against control sites",
    },
}

INSUFFICIENT = {
    "fr": {
        "few_before": "{count} périodes avant la mise en place, {needed} au minimum",
        "few_after": "{count} périodes après la mise en place, {needed} au minimum",
        "missing_before": "{count} périodes manquantes avant la mise en place, {needed} au plus",
        "missing_after": "{count} périodes manquantes après la mise en place, {needed} au plus",
        "no_seasonal_baseline": "{count} périodes avant la mise en place, {needed} au minimum "
        "pour corriger la saisonnalité",
        "non_positive": "des valeurs nulles ou négatives",
        "no_controls": "aucun site témoin",
        "placebo": "une fausse mise en place {count} périodes plus tôt montre déjà {value}\u00a0: "
        "le modèle ne distingue pas la transformation des mouvements propres de l'indicateur",
    },
    "en": {
        "few_before": "{count} periods before go-live, at least {needed} needed",
        "few_after": "{count} periods after go-live, at least {needed} needed",
        "missing_before": "{count} periods missing before go-live, at most {needed} allowed",
        "missing_after": "{count} periods missing after go-live, at most {needed} allowed",
        "no_seasonal_baseline": "{count} periods before go-live, at least {needed} needed to "
        "adjust for seasons",
        "non_positive": "zero or negative values",
        "no_controls": "no control site",
        "placebo": "a fake go-live {count} periods earlier already shows {value}: the model "
        "cannot tell the transformation from the KPI's own movements",
    },
}

WORDS = {
    "fr": {
        "ci": "IC 95\u00a0%",
        "to": "à",
        "insufficient": "données insuffisantes",
        "inconclusive": "preuves insuffisantes",
        "points": "points",
    },
    "en": {
        "ci": "95% CI",
        "to": "to",
        "insufficient": "insufficient data",
        "inconclusive": "not enough evidence",
        "points": "pts",
    },
}


def reason(estimate: Estimate, language: str, unit: str = "") -> str:
    """Why a result is missing, in words (empty when there is a result)."""
    if estimate.insufficiency is None:
        return ""
    problem = estimate.insufficiency
    template = INSUFFICIENT[language][problem.code]
    value = "" if problem.value is None else _format(problem.value, estimate, language, unit)
    return template.format(count=problem.count, needed=problem.needed, value=value)


def unit_suffix(unit: str, language: str) -> str:
    """What follows an absolute change: points for a percentage, € for money, else nothing."""
    if unit == "pct":
        return WORDS[language]["points"]
    return "€" if unit == "eur" or unit.startswith("eur_") else ""


def sentence(estimate: Estimate, label: str, language: str, unit: str) -> str:
    """The result in one sentence: label, change, 95 % interval, verdict, method."""
    words = WORDS[language]
    colon = "\u00a0: " if language == "fr" else ": "
    if estimate.verdict == "insufficient_data" or estimate.change is None:
        problem = estimate.insufficiency
        word = (
            "inconclusive" if problem is not None and problem.code == "placebo" else "insufficient"
        )
        return f"{label}{colon}{words[word]} ({reason(estimate, language, unit)})"
    change = _format(estimate.change, estimate, language, unit)
    low = _format(estimate.ci_low, estimate, language, unit)
    high = _format(estimate.ci_high, estimate, language, unit)
    return (
        f"{label}{colon}{change} ({words['ci']}{colon}{low} {words['to']} {high}), "
        f"{VERDICTS[language][estimate.verdict]} ({METHODS[language][estimate.method]})"
    )


def _format(value: float | None, estimate: Estimate, language: str, unit: str) -> str:
    if value is None:
        return "?"
    if estimate.basis == "relative":
        return percent(value, language, signed=True)
    return signed_number(value, language, unit_suffix(unit, language))
