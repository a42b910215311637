"""Chinese quotation marks around a name (an item's, a licence's) in running text.

The Chinese nesting rule (GB/T 15834-2011 4.1.3.4): double quotes “” outside, single quotes ‘’
inside, double again inside those. A name that holds quotes of its own, such as the bundle
开餐馆“一件事”, is wrapped as “开餐馆‘一件事’”, never as “开餐馆“一件事””."""
from __future__ import annotations

#: one level down: double quotes become single and single become double
_NEST = str.maketrans({"“": "‘", "”": "’", "‘": "“", "’": "”"})


def quoted(name: object) -> str:
    """`name` in Chinese double quotes, its own quotes nested one level down."""
    return f"“{str(name).translate(_NEST)}”"
