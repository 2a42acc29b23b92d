"""Feedback labels joined to served rows on the trip id, on taxi rows."""

import json

import pytest

from components import feedback_labels, serving_rows
from models import features
from tests.conftest import sample_rows, write_rows


def test_join_counts_everything_that_does_not_join(tmp_path):
  rows = sample_rows(50, seed=3)
  labelled = rows[:40]
  label_rows = [
    {k: r[k] for k in ('trip_id', 'tips', 'fare')} for r in labelled
  ]
  label_rows.append(dict(label_rows[0]))  # The same label twice.
  conflicting = dict(label_rows[1])
  conflicting['tips'] = str(float(conflicting['fare']) * 0.5 + 1)
  conflicting['fare'] = label_rows[1]['fare']
  label_rows.append(conflicting)
  label_rows.append({'trip_id': 'never-served', 'tips': '1', 'fare': '2'})
  write_rows(tmp_path / 'labels' / 'a.csv', label_rows)
  labels = feedback_labels.read_labels(str(tmp_path / 'labels'))
  served = [dict(r) for r in rows] + [dict(rows[2])]  # Served twice.
  served.append({k: v for k, v in rows[3].items() if k != features.TRIP_ID})
  joined = feedback_labels.join(served, labels)
  first_label = features.is_big_tipper(
    float(rows[1]['tips']), float(rows[1]['fare'])
  )
  conflict = first_label != features.is_big_tipper(
    float(conflicting['tips']), float(conflicting['fare'])
  )
  assert joined.counts() == {
    'requests': 52,
    'label_rows': 43,
    'joined': 40 - int(conflict),
    'requests_without_id': 1,
    'duplicate_requests': 1,
    'requests_without_label': 10 + int(conflict),
    'labels_without_request': 1,
    'duplicate_label_ids': 1 + int(not conflict),
    'conflicting_label_ids': int(conflict),
  }
  by_id = {row['trip_id']: label for row, label in joined.labelled}
  assert by_id[rows[0]['trip_id']] == features.is_big_tipper(
    float(rows[0]['tips']), float(rows[0]['fare'])
  )


def test_json_lines_labels_and_numeric_ids(tmp_path):
  path = tmp_path / 'labels.jsonl'
  path.write_text(
    json.dumps({'trip_id': '17', 'big_tipper': 1})
    + '\n'
    + json.dumps({'trip_id': '18', 'tips': 0.0, 'fare': 10})
    + '\n'
  )
  labels = feedback_labels.read_labels(str(path))
  joined = feedback_labels.join([{'trip_id': 17.0}, {'trip_id': 18}], labels)
  assert [label for _, label in joined.labelled] == [1, 0]


@pytest.mark.parametrize(
  'content, message',
  [
    ('trip_id,tips,fare\n,1,2\n', 'row 1: no trip_id'),
    ('trip_id,tips,fare\na,x,2\n', "row 1: tips is 'x', not a number"),
    ('trip_id,fare\na,2\n', 'row 1: needs tips and fare (or big_tipper)'),
  ],
)
def test_bad_label_rows_are_one_line_naming_file_and_row(
  tmp_path, content, message
):
  path = tmp_path / 'labels.csv'
  path.write_text(content)
  with pytest.raises(serving_rows.UnreadableInput) as error:
    feedback_labels.read_labels(str(path))
  assert str(error.value) == f'{path} {message}'
