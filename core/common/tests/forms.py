"""What a browser would submit from a page's form, for admin tests that change a few fields and post the rest."""

from __future__ import annotations

from html.parser import HTMLParser

_TEXTUAL = {"text", "hidden", "number", "email", "url", "password", "date", "time", "datetime-local", "search", "tel"}


class _FormReader(HTMLParser):
    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.data: dict[str, list[str]] = {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._select_chosen: list[str] = []
        self._select_first: str | None = None
        self._option: str | None = None

    def _add(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in _TEXTUAL:
                self._add(name, a.get("value", ""))
            elif kind in ("checkbox", "radio") and "checked" in a:
                self._add(name, a.get("value", "on"))
        elif tag == "textarea" and name:
            self._textarea = name
            self._add(name, "")
        elif tag == "select" and name:
            self._select, self._select_chosen, self._select_first = name, [], None
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a:
                self._select_chosen.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = self._select_chosen or ([self._select_first] if self._select_first is not None else [])
            for value in chosen:
                self._add(self._select, value)
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.data[self._textarea][-1] += data.removeprefix("\n") if not self.data[self._textarea][-1] else data


def form_data(html: str, form_id: str) -> dict[str, str | list[str]]:
    """The name -> value(s) that submitting the form `form_id` of `html` would send (files left out)."""
    reader = _FormReader(form_id)
    reader.feed(html)
    return {name: values[0] if len(values) == 1 else values for name, values in reader.data.items()}
