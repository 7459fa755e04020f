#!/usr/bin/env python3
"""Within-modality references for Wiki (docs/generative.md, "Why I2T stays low").

    python scripts/wiki_unimodal.py --wiki-dir /path/to/wiki [--splits 5] [--seed 0]

On the same seeded query/retrieval splits as `reproduce table2` (25% queries), with features
standardised on the retrieval set: image-to-image and text-to-text retrieval mAP (centred cosine,
relevant = same category), and the test accuracy of a softmax classifier trained on the retrieval
set and scored on the queries. It bounds what a cross-modal method can expect from each modality.
"""
import argparse
import os
import sys

import numpy as np

from dmf_np import backend
from dmf_np.data.wiki import N_CATEGORIES, WikiDataError, load_wiki, query_split
from dmf_np.experiments.wiki import QUERY_FRACTION, apply_preprocessing, fit_preprocessing
from dmf_np.linear import fit_linear_classifier
from dmf_np.retrieval import retrieval_map


def unimodal_scores(data, splits: int, seed: int) -> dict:
    """{'image'|'text': {'map': [per split], 'accuracy': [per split, %]}}."""
    out = {"image": {"map": [], "accuracy": []}, "text": {"map": [], "accuracy": []}}
    for s_seed in backend.spawn_seeds(seed, splits):
        q, r = query_split(len(data), QUERY_FRACTION, s_seed)
        pre = fit_preprocessing("standardise", data.image[r], data.text[r])
        feats = dict(zip(("image", "text"), apply_preprocessing(pre, data.image, data.text)))
        for name, x in feats.items():
            out[name]["map"].append(retrieval_map(x[q], x[r], data.labels[q], data.labels[r]))
            clf = fit_linear_classifier(x[r], data.labels[r], N_CATEGORIES, seed=s_seed)
            out[name]["accuracy"].append(100.0 - clf.error_rate(x[q], data.labels[q]))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wiki-dir", default=os.environ.get("DMF_WIKI_DIR"), help="the Wiki feature files")
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="the base seed of the splits (as reproduce table2)")
    args = p.parse_args(argv)
    if not args.wiki_dir:
        print("error: give --wiki-dir (or set $DMF_WIKI_DIR); see docs/generative.md, 'Data'", file=sys.stderr)
        return 2
    try:
        data = load_wiki(args.wiki_dir)
    except WikiDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    scores = unimodal_scores(data, args.splits, args.seed)
    largest = 100.0 * np.bincount(data.labels).max() / len(data)
    for name, other in (("image", "image-to-image"), ("text", "text-to-text")):
        m, a = np.array(scores[name]["map"]), np.array(scores[name]["accuracy"])
        print(f"{other}: mAP {m.mean():.3f} ± {m.std(ddof=1):.3f}; linear classifier accuracy "
              f"{a.mean():.1f} ± {a.std(ddof=1):.1f}% ({args.splits} splits)")
    print(f"largest category: {largest:.1f}% of the pairs (the accuracy of always guessing it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
