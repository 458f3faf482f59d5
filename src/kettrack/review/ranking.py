"""Where the screening queue's order is decided: how likely each record is to be included.

Until a review has at least one inclusion and one exclusion there is nothing to
learn from, and the queue is in a seeded random order (:func:`random_order`):
stable between sessions, and a record that a run adds lands at a random place,
not at the end. From then on a model learned from the review's own decisions
scores every record awaiting screening (:class:`Ranker`), and the highest
score is screened next ("certainty sampling", as ASReview does by default).

The model: TF-IDF features of title and abstract (and, for articles, MeSH
terms and keywords), word unigrams and bigrams with sublinear term frequency,
and two classifiers whose rank-normalised scores are averaged:

- logistic regression with the classes weighted to balance (inclusions are
  rare: 1-5 % of records in a typical review);
- multinomial naive Bayes trained on a re-balanced sample (ASReview's
  "double" balance: inclusions are oversampled, more so while they are few).

What the model cannot promise: it only learns the words of what was included
so far. An inclusion unlike any earlier one (another design, another
vocabulary) can rank low, so stopping before the queue is empty risks missing
records. ``bench/screening_sim.py`` measures how much screening it saved on
published reviews; those figures are no guarantee for another review.

scikit-learn is imported only when a model is trained: ``kettrack --help``
and the commands that do not rank do not pay for it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: what the model cannot promise, said wherever the ranked queue is shown
CAVEAT = ("The order is learned only from the words of this review's decisions: an inclusion "
          "unlike the earlier ones can rank low, so the queue must be screened to the end "
          "to be sure nothing is missed.")
RANDOM_NOTE = ("Random order (seeded) until there is at least one inclusion and one exclusion "
               "to learn from.")


def random_order(keys: Sequence[str], seed: int) -> list[str]:
    """``keys`` in a seeded random order that does not depend on which other keys exist."""
    def position(key: str) -> str:
        return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()
    return sorted(keys, key=position)


@dataclass(frozen=True)
class ModelSettings:
    """The model's few knobs (chosen once, on both development reviews: see docs/review.md)."""

    ngram_max: int = 2
    min_df: int = 1
    c: float = 1.0
    nb_alpha: float = 3.822        # ASReview's default for its naive Bayes
    use_lr: bool = True
    use_nb: bool = True


def _double_balance(labelled: np.ndarray, y: np.ndarray, rng: np.random.Generator
                    ) -> np.ndarray:
    """Indices of a re-balanced training sample (ASReview's "double" balance):
    as many rows as were labelled, inclusions oversampled the more the rarer they are."""
    import numpy as np

    ones = labelled[y == 1]
    zeros = labelled[y == 0]
    n_one, n_zero = len(ones), len(zeros)
    n_train = n_one + n_zero
    one_weight = 2.155 * (n_one / n_zero) ** -0.94
    zero_weight = 1 - (1 - 0.789) * (1 + math.log(n_train)) ** -1.0
    total = one_weight * n_one + zero_weight * n_zero
    want = one_weight * n_one * n_train / total
    n_one_train = int(math.floor(want) + (rng.random() < want - math.floor(want)))
    n_one_train = max(1, min(n_train - 2, n_one_train))

    def fill(src: np.ndarray, n: int) -> np.ndarray:
        copies, rest = divmod(n, len(src))
        return np.concatenate([np.tile(src, copies), rng.choice(src, rest, replace=False)])

    return np.concatenate([fill(ones, n_one_train), fill(zeros, n_train - n_one_train)])


def _rank_normalise(values: np.ndarray) -> np.ndarray:
    """Scores as their rank among all records, 0..1 (so two models average fairly)."""
    import numpy as np

    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=float)
    ranks[order] = np.arange(len(values), dtype=float)
    return ranks / max(len(values) - 1, 1)


class Ranker:
    """Features of a fixed set of records, built once; :meth:`scores` retrains and
    scores them all (cheap enough to run after every decision)."""

    def __init__(self, texts: Sequence[str], *, settings: ModelSettings | None = None,
                 seed: int = 0) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.settings = settings or ModelSettings()
        self.seed = seed
        vectorizer = TfidfVectorizer(
            ngram_range=(1, self.settings.ngram_max), min_df=self.settings.min_df,
            sublinear_tf=True, stop_words="english", strip_accents="unicode",
            dtype=_float32())
        self.matrix: Any = vectorizer.fit_transform([t or "" for t in texts])
        self.size = self.matrix.shape[0]

    def scores(self, included: Sequence[int], excluded: Sequence[int]) -> np.ndarray | None:
        """A score for every record (higher: more likely to be included), learned from
        the records at indices ``included`` and ``excluded``; None while either is empty."""
        import numpy as np

        if not included or not excluded:
            return None
        labelled = np.array([*included, *excluded])
        y = np.array([1] * len(included) + [0] * len(excluded))
        parts = []
        if self.settings.use_lr:
            parts.append(self._logistic(labelled, y))
        if self.settings.use_nb:
            parts.append(self._naive_bayes(labelled, y))
        if len(parts) == 1:
            return parts[0]
        return np.mean([_rank_normalise(p) for p in parts], axis=0)

    def _logistic(self, labelled: np.ndarray, y: np.ndarray) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=self.settings.c, class_weight="balanced", max_iter=200,
                                   solver="liblinear", random_state=self.seed)
        model.fit(self.matrix[labelled], y)
        result: np.ndarray = model.decision_function(self.matrix)
        return result

    def _naive_bayes(self, labelled: np.ndarray, y: np.ndarray) -> np.ndarray:
        import numpy as np
        from sklearn.naive_bayes import MultinomialNB

        rng = np.random.default_rng(self.seed + len(labelled))
        sample = _double_balance(labelled, y, rng)
        model = MultinomialNB(alpha=self.settings.nb_alpha)
        model.fit(self.matrix[sample], _labels_of(sample, labelled, y))
        log_prob = model.predict_log_proba(self.matrix)
        result: np.ndarray = log_prob[:, 1] - log_prob[:, 0]
        return result


def _labels_of(sample: np.ndarray, labelled: np.ndarray, y: np.ndarray) -> np.ndarray:
    import numpy as np

    lookup = dict(zip(labelled.tolist(), y.tolist(), strict=True))
    return np.array([lookup[i] for i in sample.tolist()])


def _float32() -> Any:
    import numpy as np

    return np.float32
