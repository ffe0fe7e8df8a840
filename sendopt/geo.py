"""Great-circle distance, written once for numpy arrays and Spark columns.

The push strategies (store within a radius of the customer) and the world's
push truth (relevance falls with distance from home) both call
:func:`haversine_km`; pass ``NP`` or ``SPARK`` as ``ops``.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from pyspark.sql import functions as F

EARTH_RADIUS_KM = 6371.0088
NP = SimpleNamespace(sin=np.sin, cos=np.cos, asin=np.arcsin, sqrt=np.sqrt, radians=np.radians, least=np.minimum)
SPARK = SimpleNamespace(sin=F.sin, cos=F.cos, asin=F.asin, sqrt=F.sqrt, radians=F.radians, least=F.least)


def haversine_km(lat1, lon1, lat2, lon2, ops=SPARK):
    """Distance in km between two points given in degrees (arrays or columns)."""
    p1, p2 = ops.radians(lat1), ops.radians(lat2)
    dp, dl = p2 - p1, ops.radians(lon2) - ops.radians(lon1)
    a = ops.sin(dp / 2) ** 2 + ops.cos(p1) * ops.cos(p2) * ops.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * ops.asin(ops.sqrt(ops.least(a, a * 0 + 1.0)))
