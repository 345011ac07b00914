"""Writes data/iris.csv from scikit-learn's bundled copy of Fisher's iris data.

Run from the repository root with scikit-learn installed (`pip install scikit-learn`; the file in
the repository was written with scikit-learn 1.9.1): `python3 data/export_iris.py`. The script
reads the CSV back and checks it equals `load_iris()`'s data and class names.
"""

import csv

from sklearn.datasets import load_iris

iris = load_iris()
names = [str(n) for n in iris.target_names]
header = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
with open("data/iris.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(header)
    for row, target in zip(iris.data, iris.target):
        w.writerow([f"{v:g}" for v in row] + [names[target]])

with open("data/iris.csv") as f:
    rows = list(csv.reader(f))[1:]
assert len(rows) == 150
for row, data, target in zip(rows, iris.data, iris.target):
    assert [float(v) for v in row[:4]] == list(data), row
    assert row[4] == names[target], row
print("data/iris.csv: 150 rows, classes", names)
