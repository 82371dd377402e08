#!/usr/bin/python3
"""scikit-learn peer for scripts/bench-search: the product brief's grid search
GridSearchCV(MLPClassifier(hidden_layer_sizes=(64,), solver="adam"), cv=3) over batch_size x
max_iter (epochs) x alpha (L2), 27 candidates x 3 folds = 81 fits, on the same synthetic data as
nnctl (SplitMix64: X from stream 1, labels from stream 2). Prints one JSON line.

  bench_sklearn.py --n-jobs N
"""
import argparse
import json
import os
import resource
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--n-jobs", type=int, default=1)
args = ap.parse_args()
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import warnings  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import splitmix  # noqa: E402

X, y = splitmix.synthetic(1000, 20, 10, 1)
warnings.filterwarnings("ignore", category=ConvergenceWarning)
os.environ["PYTHONWARNINGS"] = "ignore"
grid = {"batch_size": [16, 32, 64], "max_iter": [5, 10, 15], "alpha": [0.0, 0.01, 0.1]}
est = MLPClassifier(hidden_layer_sizes=(64,), activation="relu", solver="adam", learning_rate_init=0.01, random_state=0)
gs = GridSearchCV(est, grid, cv=3, n_jobs=args.n_jobs, refit=False)
t0 = time.perf_counter()
gs.fit(X, y)
wall = time.perf_counter() - t0
print(json.dumps({"impl": "scikit-learn", "n_jobs": args.n_jobs, "wall_s": wall, "best_params": gs.best_params_,
                  "best_score": float(gs.best_score_),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
