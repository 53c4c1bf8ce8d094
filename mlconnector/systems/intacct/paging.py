"""``readByQuery`` then ``readMore(resultId)`` until ``numremaining`` is 0 (intacct_sage100.md §5).

Paging by the result id keeps every page from the same query; re-running the query with an
offset could skip or repeat rows that change meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlconnector.errors import ResponseError
from mlconnector.systems.intacct._xml import element
from mlconnector.systems.intacct.client import IntacctClient, Result


def read_by_query_element(obj: str, fields: list[str], query: str, page_size: int):
    return element("readByQuery", object=obj, fields=",".join(fields) if fields else "*", query=query,
                   pagesize=page_size)


def read_more_element(result_id: str):
    return element("readMore", resultId=result_id)


def read_by_query(client: IntacctClient, obj: str, fields: list[str], query: str = "", *,
                  what: str) -> Iterator[list[dict]]:
    """Yield each page of ``obj`` rows matching ``query`` (every row when empty), ``fields`` only
    (all of them when the list is empty). Rows are flat dicts (see ``Result.records``)."""
    result = client.call(read_by_query_element(obj, fields, query, client.settings.page_size),
                         controlid=f"readByQuery-{obj}"[:256], what=what)
    page = 1
    while True:
        rows = result.records()
        yield rows
        remaining = result.numremaining or 0
        if remaining <= 0:
            return
        if not result.result_id:
            raise ResponseError(f"{what}: {remaining} rows remain but the answer gives no resultId to read them",
                                system=client.system)
        if not rows:
            raise ResponseError(f"{what}: an empty page with {remaining} rows said to remain", system=client.system)
        page += 1
        result = _more(client, result.result_id, obj=obj, what=f"{what} (page {page})")


def _more(client: IntacctClient, result_id: str, *, obj: str, what: str) -> Result:
    return client.call(read_more_element(result_id), controlid=f"readMore-{obj}"[:256], what=what)
