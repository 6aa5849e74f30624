"""The Python equivalent of `performance` + `fairness` on the Adult test set:
onnxruntime inference, scikit-learn metrics (overall and per slice) and
fairlearn MetricFrame group metrics. Used by bench/classic.sh."""
import sys

import numpy as np
import onnxruntime as ort
import pandas as pd
from fairlearn.metrics import (MetricFrame, count, demographic_parity_difference, demographic_parity_ratio,
                               equal_opportunity_difference, equalized_odds_difference, equalized_odds_ratio,
                               false_positive_rate, selection_rate, true_positive_rate)
from sklearn import metrics as skm

model, data = sys.argv[1], sys.argv[2]
df = pd.read_csv(data)
features = [c for c in df.columns if c not in ("sex", "race", "label")]
X = df[features].to_numpy(np.float32)
y = df["label"].to_numpy()
sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
out = sess.run(None, {sess.get_inputs()[0].name: X})[1]
proba = np.array([[r[0], r[1]] for r in out]) if isinstance(out, list) else out
pred = proba.argmax(axis=1)


def perf(idx):
    yt, yp, pr = y[idx], pred[idx], proba[idx]
    m = {"accuracy": skm.accuracy_score(yt, yp), "balanced_accuracy": skm.balanced_accuracy_score(yt, yp),
         "precision": skm.precision_score(yt, yp, zero_division=0), "recall": skm.recall_score(yt, yp),
         "f1": skm.f1_score(yt, yp), "roc_auc": skm.roc_auc_score(yt, pr[:, 1]),
         "log_loss": skm.log_loss(yt, pr, labels=[0, 1]), "cm": skm.confusion_matrix(yt, yp)}
    for avg in ("macro", "weighted"):
        m["f1_" + avg] = skm.f1_score(yt, yp, average=avg)
        m["precision_" + avg] = skm.precision_score(yt, yp, average=avg, zero_division=0)
        m["recall_" + avg] = skm.recall_score(yt, yp, average=avg)
    return m


result = {"overall": perf(np.arange(len(y)))}
for col in ("sex", "race"):
    for value, idx in df.groupby(col).groups.items():
        if len(idx) >= 30:
            result[f"{col}={value}"] = perf(np.asarray(idx))
for col in ("sex", "race"):
    g = df[col]
    mf = MetricFrame(metrics={"selection_rate": selection_rate, "tpr": true_positive_rate,
                              "fpr": false_positive_rate, "accuracy": skm.accuracy_score, "count": count},
                     y_true=y, y_pred=pred, sensitive_features=g)
    result[col] = (mf.by_group, demographic_parity_difference(y, pred, sensitive_features=g),
                   demographic_parity_ratio(y, pred, sensitive_features=g),
                   equalized_odds_difference(y, pred, sensitive_features=g),
                   equalized_odds_ratio(y, pred, sensitive_features=g),
                   equal_opportunity_difference(y, pred, sensitive_features=g))
print(f"accuracy {result['overall']['accuracy']:.6f} dp_diff[sex] {result['sex'][1]:.6f}")
