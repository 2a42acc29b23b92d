"""A self-contained HTML page: sections of tables, notes and plotly figures,
with plotly.js inlined once (no CDN, no external fonts)."""

import html
import os
from typing import Iterable, List, Optional, Sequence

import plotly.graph_objects as go
import plotly.offline

NOT_COMPUTED = 'not computed by this run'
_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;
margin:0 auto;max-width:1200px;padding:0 1.5em 3em;color:#222}
h1{border-bottom:2px solid #345;padding-bottom:.3em}
h2{margin-top:2em;border-bottom:1px solid #ccc}
nav a{margin-right:1em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f5f7}
.note{color:#555;font-style:italic}
.bad{color:#a00;font-weight:bold}.good{color:#070;font-weight:bold}
.figs{display:flex;flex-wrap:wrap;gap:.5em}
"""


def escape(value) -> str:
  return html.escape(str(value))


def number(value, digits: int = 3) -> str:
  if value is None:
    return '—'
  if isinstance(value, bool):
    return str(value)
  if isinstance(value, int):
    return f'{value:,}'
  if isinstance(value, float):
    if value != value:  # NaN
      return '—'
    return f'{value:,.{digits}f}'
  return escape(value)


def table(headers: Sequence[str], rows: Iterable[Sequence]) -> str:
  """Numbers right-aligned and rounded; anything else escaped."""
  head = ''.join(f'<th>{escape(h)}</th>' for h in headers)
  body = []
  for row in rows:
    cells = []
    for cell in row:
      if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        cells.append(f'<td class="n">{number(cell)}</td>')
      elif cell is None:
        cells.append('<td class="n">—</td>')
      else:
        cells.append(f'<td>{escape(cell)}</td>')
    body.append('<tr>' + ''.join(cells) + '</tr>')
  return f'<table><tr>{head}</tr>{"".join(body)}</table>'


def note(text: str) -> str:
  return f'<p class="note">{escape(text)}</p>'


def paragraph(text: str) -> str:
  return f'<p>{escape(text)}</p>'


def heading(text: str) -> str:
  return f'<h3>{escape(text)}</h3>'


def figure(fig: go.Figure, height: int = 320, width: Optional[int] = None):
  fig.update_layout(
    height=height,
    width=width,
    margin=dict(l=50, r=20, t=60, b=40),
    font=dict(family='system-ui, sans-serif', size=11),
  )
  return fig.to_html(
    full_html=False,
    include_plotlyjs=False,
    config={'displayModeBar': False, 'responsive': True},
  )


def figures(parts: List[str]) -> str:
  return '<div class="figs">' + ''.join(parts) + '</div>'


class Page:
  """Sections in order; each is an <h2> with an id a test can find."""

  def __init__(self, title: str):
    self.title = title
    self._sections: List[tuple] = []

  def section(self, section_id: str, title: str, parts: List[str]) -> None:
    self._sections.append((section_id, title, ''.join(parts)))

  def html(self) -> str:
    nav = ''.join(
      f'<a href="#{i}">{escape(title)}</a>' for i, title, _ in self._sections
    )
    body = ''.join(
      f'<section id="{i}"><h2>{escape(title)}</h2>{content}</section>'
      for i, title, content in self._sections
    )
    return (
      '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
      f'<title>{escape(self.title)}</title><style>{_STYLE}</style>'
      f'<script>{plotly.offline.get_plotlyjs()}</script></head><body>'
      f'<h1>{escape(self.title)}</h1><nav>{nav}</nav>{body}</body></html>'
    )

  def write(self, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # Written aside and renamed: a reader never sees half a page.
    partial = f'{path}.partial'
    with open(partial, 'w', encoding='utf-8') as f:
      f.write(self.html())
    os.replace(partial, path)
    return path
