"""Customer features for segmentation: encoding of customers.csv and behaviour from purchases.

:class:`CustomerFeatureEncoder` turns a mixed table (numbers and categories, with
gaps) into a numeric matrix for clustering: numbers are median-imputed and scaled to
unit variance; categories get one-hot columns (blank = its own category) scaled by
``categorical_weight`` so that a category switch weighs about as much as one standard
deviation of a number (without it, a noisy categorical column with many levels could
outvote the numeric features that separate the segments).

:func:`behavioural_features` derives recency, frequency, spend and category mix per
customer from transactions, for customers.csv files with few or no columns;
:func:`exposure_features` derives each customer's purchase rate per offer from
exposures when there are no transactions either.
"""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_array, check_is_fitted, validate_data


class CustomerTableInput:
    """Estimator tags of the models that take the raw customer table: missing values,
    strings and categorical columns are all accepted (scikit-learn's estimator checks
    read these tags)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags


class CustomerFeatureEncoder(CustomerTableInput, TransformerMixin, BaseEstimator):
    """Scale numeric columns and one-hot encode categorical ones, imputing gaps.

    Parameters
    ----------
    categorical_weight : float, default=0.7071
        Multiplier of one-hot columns: two customers differing in one category are
        ``categorical_weight * sqrt(2)`` apart (1.0 by default, like one standard
        deviation of a scaled number).
    max_categories : int, default=20
        Most frequent levels kept per categorical column; rarer ones share a column.

    Attributes
    ----------
    numeric_columns_, categorical_columns_ : list of int
        Positions of the columns treated as numbers / categories.
    center_, scale_ : ndarray
        Median used to impute, mean and scale of each numeric column.
    categories_ : list of ndarray
        Levels kept for each categorical column.
    """

    _parameter_constraints: dict = {
        "categorical_weight": [Interval(Real, 0, None, closed="left")],
        "max_categories": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, categorical_weight: float = 0.7071, max_categories: int = 20) -> None:
        self.categorical_weight = categorical_weight
        self.max_categories = max_categories

    def _columns(self, X) -> list[pd.Series]:
        if isinstance(X, pd.DataFrame):
            return [X.iloc[:, j].reset_index(drop=True) for j in range(X.shape[1])]
        arr = check_array(X, dtype=None, ensure_all_finite="allow-nan")
        return [pd.Series(arr[:, j]) for j in range(arr.shape[1])]

    @staticmethod
    def _as_number(col: pd.Series) -> pd.Series | None:
        if pd.api.types.is_bool_dtype(col):
            return col.astype(float)
        if pd.api.types.is_numeric_dtype(col):
            return col.astype(float)
        try:
            num = pd.to_numeric(col, errors="raise")
        except (ValueError, TypeError):
            return None
        return num.astype(float)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> "CustomerFeatureEncoder":
        """Learn which columns are numbers, their centre/scale, and category levels."""
        cols = self._columns(X)
        validate_data(self, X, skip_check_array=True, reset=True)
        if len(cols) == 0 or len(cols[0]) == 0:
            raise ValueError("CustomerFeatureEncoder needs at least one sample and one feature "
                             f"(got shape {np.shape(X)})")
        self.numeric_columns_, self.categorical_columns_ = [], []
        centers, scales, self.categories_ = [], [], []
        for j, col in enumerate(cols):
            num = self._as_number(col)
            if num is not None:
                if np.isinf(num.to_numpy()).any():
                    raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
                self.numeric_columns_.append(j)
                med = float(np.nanmedian(num)) if num.notna().any() else 0.0
                filled = num.fillna(med).to_numpy()
                centers.append((med, float(filled.mean())))
                sd = float(filled.std())
                scales.append(sd if sd > 1e-12 else 1.0)
            else:
                self.categorical_columns_.append(j)
                levels = col.astype(object).where(col.notna(), "<blank>").astype(str)
                counts = levels.value_counts(sort=True)
                self.categories_.append(np.asarray(counts.index[: self.max_categories], dtype=object))
        self.center_ = np.array(centers).reshape(-1, 2)
        self.scale_ = np.array(scales, dtype=float)
        return self

    def transform(self, X) -> np.ndarray:
        """The numeric matrix: scaled numbers, then weighted one-hot columns."""
        check_is_fitted(self)
        cols = self._columns(X)
        validate_data(self, X, skip_check_array=True, reset=False)
        blocks = []
        for k, j in enumerate(self.numeric_columns_):
            num = self._as_number(cols[j])
            if num is None:
                raise ValueError(f"column {j} was numeric when fitted but now holds text")
            med, mean = self.center_[k]
            blocks.append(((num.fillna(med).to_numpy() - mean) / self.scale_[k])[:, None])
        for k, j in enumerate(self.categorical_columns_):
            levels = cols[j].astype(object).where(cols[j].notna(), "<blank>").astype(str).to_numpy()
            cats = self.categories_[k]
            onehot = (levels[:, None] == cats[None, :]).astype(float)
            other = (onehot.sum(axis=1) == 0).astype(float)[:, None]
            blocks.append(np.hstack([onehot, other]) * self.categorical_weight)
        return np.hstack(blocks) if blocks else np.zeros((len(cols[0]), 0))

    def output_blocks(self) -> tuple[slice, list[slice]]:
        """Output columns of the numeric block, and of each categorical column's one-hot block."""
        check_is_fitted(self)
        n_num = len(self.numeric_columns_)
        cats, start = [], n_num
        for cat in self.categories_:
            cats.append(slice(start, start + len(cat) + 1))
            start += len(cat) + 1
        return slice(0, n_num), cats


def behavioural_features(transactions: pd.DataFrame, products: pd.DataFrame | None = None,
                         as_of: np.datetime64 | None = None, max_categories: int = 8) -> pd.DataFrame:
    """Recency, frequency, spend and category mix per customer (index ``customer_id``).

    Counts and money are log-scaled (``log1p``) because they are heavy-tailed and
    clustering on raw spend would single out a few big spenders. Category shares of
    spend use products.csv's ``category`` column, for the ``max_categories`` largest.
    """
    t = transactions
    if as_of is None:
        as_of = t["date"].max()
    g = t.groupby("customer_id")
    n_visits = t.drop_duplicates(["customer_id", "date", "basket_id"]).groupby("customer_id").size()
    spend = g["revenue"].sum()
    out = pd.DataFrame({
        "recency_days": (pd.Timestamp(as_of) - g["date"].max()).dt.days.astype(float),
        "log_visits": np.log1p(n_visits.reindex(spend.index).astype(float)),
        "log_spend": np.log1p(spend),
        "log_spend_per_visit": np.log1p(spend / n_visits.reindex(spend.index)),
    })
    if products is not None and "category" in products.columns:
        cat = products["category"].reindex(t["product_id"]).fillna("<other>")
        top = t["revenue"].groupby(cat.to_numpy()).sum().sort_values(ascending=False).index[:max_categories]
        # Only the largest categories are spread into columns (a store has thousands).
        kept = cat.where(cat.isin(top), "<rest>").to_numpy()
        mix = t["revenue"].groupby([t["customer_id"], kept]).sum().unstack(fill_value=0.0)
        share = mix.reindex(columns=top, fill_value=0.0).div(mix.sum(axis=1).replace(0, 1.0), axis=0)
        share.columns = [f"share_{c}" for c in top]
        out = out.join(share)
    out.index.name = "customer_id"
    return out


def exposure_features(exposures: pd.DataFrame) -> pd.DataFrame:
    """Each customer's purchase rate per offer (blank where never shown), index ``customer_id``."""
    rate = exposures.groupby(["customer_id", "offer_id"])["purchased"].mean().unstack()
    rate.columns = [f"rate_{c}" for c in rate.columns]
    rate.index.name = "customer_id"
    return rate
