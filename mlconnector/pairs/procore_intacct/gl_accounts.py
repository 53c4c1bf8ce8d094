"""Intacct GL accounts → a Procore standard cost code list, so budget codes follow the ledger.

    GLACCOUNT.ACCOUNTNO   -> code (origin_id "intacct:<COMPANY>:GLACCOUNT:<ACCOUNTNO>")
    GLACCOUNT.TITLE       -> name

Only active accounts are written; an account made inactive in Intacct is left in Procore
(removing a code Procore projects use is a person's decision).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from mlconnector.engine.stream import Mapped, SourcePage, Stream, Target
from mlconnector.errors import MappingError
from mlconnector.pairs.procore_intacct._common import changed_pages, clean_text, intacct_timestamp, since_of

FIELDS = ["RECORDNO", "ACCOUNTNO", "TITLE", "ACCOUNTTYPE", "STATUS", "WHENMODIFIED"]
MAX_NAME = 255


class GLAccountStream(Stream):
    name = "gl_accounts"
    noun = "Intacct GL account"

    def __init__(self, source, target: Target, *, pair: str, lookback_minutes: int) -> None:
        super().__init__(target)
        self.source, self.pair = source, pair
        self.lookback = timedelta(minutes=max(0, lookback_minutes))

    def scan(self, *, watermark: str | None, cursor: dict | None) -> Iterator[SourcePage]:
        from mlconnector.systems.intacct.readers import gl_account_pages

        pages = ([row for row in page if self.wanted(row)]
                 for page in gl_account_pages(self.source, since_of(watermark, self.lookback), fields=FIELDS))
        return changed_pages(pages, lambda row: intacct_timestamp(row.get("WHENMODIFIED")), watermark)

    @staticmethod
    def wanted(row: dict) -> bool:
        return clean_text(row.get("STATUS")).casefold() in ("", "active")

    def fetch(self, source_key: str) -> dict | None:
        from mlconnector.systems.intacct.readers import get_gl_account

        return get_gl_account(self.source, source_key, fields=FIELDS)

    def source_key(self, row: dict) -> str:
        return clean_text(row.get("ACCOUNTNO"))

    def map(self, row: dict, refs: dict) -> Mapped:
        number = self.source_key(row)
        title = clean_text(row.get("TITLE"))
        if not number:
            raise MappingError("the account has no ACCOUNTNO", pair=self.pair, stream=self.name, source_key="?",
                               field="ACCOUNTNO")
        if not title:
            raise MappingError("TITLE is empty; a Procore cost code needs a name", pair=self.pair, stream=self.name,
                               source_key=number, field="TITLE")
        return Mapped(payload={"code": number, "name": title[:MAX_NAME]}, label=title)
