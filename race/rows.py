"""Table rows as column arrays: what one live poll writes.

A poll writes a few rows to each of a few tables. Building a DataFrame for them costs more
than deriving them (pandas infers an Arrow string type for every text column), so the live
path hands the store ``Rows``: equal-length numpy arrays by column name, with the little of
the DataFrame interface the store reads (``len``, ``in``, ``[name]``, ``empty``,
``columns``). Unknown values are None (object columns) or NaN (float columns).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd


class Rows:
    """Rows of one table as column arrays.

    Args:
        columns: column name → values (arrays or lists, all the same length).
    """

    __slots__ = ("_n", "data")

    def __init__(self, columns: Mapping[str, np.ndarray | list] | None = None) -> None:
        self.data = {name: values if isinstance(values, np.ndarray)
                     else np.array(values, dtype=object)
                     for name, values in (columns or {}).items()}
        self._n = len(next(iter(self.data.values()))) if self.data else 0

    def __len__(self) -> int:
        return self._n

    def __contains__(self, name: object) -> bool:
        return name in self.data

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]

    @property
    def empty(self) -> bool:
        return self._n == 0

    @property
    def columns(self) -> list[str]:
        return list(self.data)

    def take(self, rows: np.ndarray) -> Rows:
        """The rows selected by a boolean mask or an index array."""
        return Rows({name: values[rows] for name, values in self.data.items()})

    def with_column(self, name: str, value: object) -> Rows:
        """These rows with one more column holding ``value`` on every row."""
        column = np.empty(self._n, dtype=object)
        column[:] = [value] * self._n
        return Rows({**self.data, name: column})

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.data)


def nullable_ints(values: Iterable[object]) -> np.ndarray:
    """Whole numbers as Python ints in an object array, None where missing (None, NaN, NA):
    how an INTEGER column with NULLs travels in ``Rows``."""
    return np.array([None if pd.isna(v) else int(v) for v in values], dtype=object)
