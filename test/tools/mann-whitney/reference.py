#!/usr/bin/python3
"""Reference values for the Mann-Whitney U test, computed by SciPy (an implementation independent
of src/analysis/statistics/mann-whitney.ts). Writes reference.json next to this script; the unit
test test/unit/mann-whitney.test.ts compares the TypeScript test with it.

Run: apt-get install -y python3-scipy && /usr/bin/python3 test/tools/mann-whitney/reference.py
"""
import json
import os

import numpy as np
import scipy
from scipy.stats import mannwhitneyu

rng = np.random.RandomState(20261205)


def rounded(values, digits=3):
    return [round(float(v), digits) for v in values]


SAMPLES = [
    # small, no ties: exact distribution
    ("small exact, x higher", [3.1, 4.2, 5.3, 6.4], [1.0, 2.0, 2.5]),
    ("small exact, equal sizes", [1.5, 2.5, 3.5, 4.5, 5.5], [0.5, 2.0, 3.0, 6.0, 7.0]),
    ("small exact, one value each", [2.0], [1.0]),
    ("exact, 8 and 30 values", rounded(rng.normal(10, 1, 8), 6), rounded(rng.normal(11, 1, 30), 6)),
    ("exact, 3 and 200 values", rounded(rng.normal(0, 1, 3), 6), rounded(rng.normal(0.5, 1, 200), 6)),
    ("exact, separated", [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
    # small with ties: normal approximation
    ("small with ties", [1.0, 2.0, 2.0, 3.0], [2.0, 3.0, 3.0, 4.0, 5.0]),
    ("all equal", [5.0, 5.0, 5.0], [5.0, 5.0, 5.0, 5.0]),
    # larger: normal approximation
    ("large, no difference", rounded(rng.normal(100, 10, 40), 6), rounded(rng.normal(100, 10, 40), 6)),
    ("large, x 5% higher", rounded(rng.normal(105, 10, 60), 6), rounded(rng.normal(100, 10, 60), 6)),
    ("large, x lower", rounded(rng.normal(95, 10, 30), 6), rounded(rng.normal(100, 10, 50), 6)),
    ("large with many ties", rounded(rng.normal(3, 1, 50), 0), rounded(rng.normal(3.3, 1, 45), 0)),
    ("latency-like, skewed", rounded(rng.lognormal(4.6, 0.3, 25), 2), rounded(rng.lognormal(4.5, 0.3, 25), 2)),
    ("9 and 9, no ties", rounded(rng.normal(0, 1, 9), 6), rounded(rng.normal(0, 1, 9), 6)),
]

cases = []
for name, x, y in SAMPLES:
    for alternative in ("two-sided", "greater", "less"):
        r = mannwhitneyu(x, y, alternative=alternative, method="auto", use_continuity=True)
        cases.append({
            "name": name,
            "alternative": alternative,
            "x": x,
            "y": y,
            "u": float(r.statistic),
            "pValue": float(r.pvalue),
        })

out = {
    "generatedBy": "test/tools/mann-whitney/reference.py with SciPy %s (scipy.stats.mannwhitneyu, method='auto', use_continuity=True)" % scipy.__version__,
    "cases": cases,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("wrote %d cases to %s" % (len(cases), path))
