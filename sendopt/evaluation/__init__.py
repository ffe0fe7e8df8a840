"""Evaluation: with ``sendopt.world``, the only code allowed to read ground truth (``truth.*``).

It scores policies and models against the world's true response functions
(``sendopt.world.truth``): true net value of a decision policy versus the
oracle and baselines, recall of planted MCC pairs, true uplift policy value.
"""
