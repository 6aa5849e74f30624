"""HopSkipJump with the Adversarial Robustness Toolbox over onnxruntime:
the reference side of bench/robustness.sh.

usage: art_hopskipjump.py MODEL.onnx DATA.csv NORM EPS MAX_ITER MAX_EVAL INIT_EVAL CLIP_MIN CLIP_MAX

Prints one JSON line: rows attacked, success rate within EPS, median L-norm
of the adversarial examples found.
"""

import json
import sys

import numpy as np
import onnxruntime as ort
from art.attacks.evasion import HopSkipJump
from art.estimators.classification import BlackBoxClassifier


def main():
    model, data, norm, eps, max_iter, max_eval, init_eval, lo, hi = sys.argv[1:10]
    norm = 2 if norm == "l2" else np.inf
    eps = float(eps)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    prob_name = [o.name for o in sess.get_outputs() if "prob" in o.name][0]
    raw = np.genfromtxt(data, delimiter=",", skip_header=1, dtype=np.float32)
    x, y = raw[:, :-1], raw[:, -1].astype(np.int64)
    n_classes = 10

    def predict(batch):
        return sess.run([prob_name], {inp: batch.astype(np.float32)})[0]

    clf = BlackBoxClassifier(predict, input_shape=(x.shape[1],), nb_classes=n_classes,
                             clip_values=(float(lo), float(hi)))
    pred = predict(x).argmax(1)
    correct = pred == y
    xs = x[correct]
    attack = HopSkipJump(clf, targeted=False, norm=norm, max_iter=int(max_iter), max_eval=int(max_eval),
                         init_eval=int(init_eval), init_size=100, verbose=False)
    np.random.seed(0)
    adv = attack.generate(xs)
    adv_pred = predict(adv).argmax(1)
    flipped = adv_pred != y[correct]
    diff = (adv - xs).reshape(len(xs), -1)
    dist = np.linalg.norm(diff, ord=2, axis=1) if norm == 2 else np.abs(diff).max(axis=1)
    success = flipped & (dist <= eps)
    print(json.dumps({
        "rows": int(len(x)),
        "clean_accuracy": float(correct.mean()),
        "attacked": int(correct.sum()),
        "success_rate": float(success.mean()),
        "median_perturbation": float(np.median(dist[flipped])) if flipped.any() else None,
    }))


if __name__ == "__main__":
    main()
