"""The explanations stage: perturbation tests, pointing games, attention figures
(docs/explanations.md)."""
