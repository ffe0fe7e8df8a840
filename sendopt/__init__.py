"""sendopt — daily marketing decisions (email frequency, push, promos, coupons) on Spark and Delta.

Public surface: the ``sendopt`` CLI, the ``jobs/`` entry points, and for notebooks
:func:`sendopt.api.session` (config + Spark + lake in one call).
"""
__version__ = "0.1.0"
