"""Golden values for tests/everyday.rs: scikit-learn's classification report on one fixed example.

Run: python3 tests/golden/classification_report.py
(needs `pip install numpy scikit-learn`; neither is a dependency of the crate)

Four classes, of which "fish" is never predicted (its precision is 0/0) and "bird" has one row.
`labels=range(4)` makes every class of the confusion matrix count, as the crate's report does;
`zero_division=0` is scikit-learn's default value without the warning.
"""
import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, precision_recall_fscore_support

NAMES = ["bird", "cat", "dog", "fish"]
Y_TRUE = [1, 1, 1, 1, 2, 2, 2, 0, 3, 3, 2, 1]
Y_PRED = [1, 1, 2, 0, 2, 2, 1, 0, 2, 1, 2, 1]
LABELS = list(range(len(NAMES)))

print(confusion_matrix(Y_TRUE, Y_PRED, labels=LABELS))
print(classification_report(Y_TRUE, Y_PRED, labels=LABELS, target_names=NAMES,
                            zero_division=0, digits=17))
p, r, f, s = precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=LABELS, zero_division=0)
for name, row in zip(["PRECISION", "RECALL", "F1"], [p, r, f]):
    print(f"const {name}: [f64; 4] = [{', '.join(repr(float(v)) for v in row)}];")
print(f"const ACCURACY: f64 = {float(accuracy_score(Y_TRUE, Y_PRED))!r};")
print(f"const SUPPORT: [usize; 4] = [{', '.join(str(int(v)) for v in s)}];")
for avg in ["macro", "weighted"]:
    p, r, f, _ = precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=LABELS, average=avg,
                                                 zero_division=0)
    print(f"const {avg.upper()}_AVG: [f64; 3] = [{float(p)!r}, {float(r)!r}, {float(f)!r}];")
print("default report (zero_division='warn'):")
print(classification_report(Y_TRUE, Y_PRED, labels=LABELS, target_names=NAMES))
