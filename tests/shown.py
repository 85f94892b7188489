"""What an ``st.dataframe`` shows under ``AppTest``: the display text of every cell.

Tables are sortable: their values are sort keys (car numbers as numbers, missing values as
+inf); the text a reader sees is the Styler's display values, read back here.
"""

from __future__ import annotations

import pandas as pd
from streamlit import dataframe_util


def shown_table(element: object) -> pd.DataFrame:
    """The displayed text of an AppTest ``Dataframe`` element (its values if unstyled)."""
    values = element.value  # type: ignore[attr-defined]
    display = element.proto.arrow_data.styler.display_values  # type: ignore[attr-defined]
    if not display:
        return values
    text = dataframe_util.convert_arrow_bytes_to_pandas_df(display)
    text.columns = values.columns
    text.index = values.index
    return text
