"""model_analysis's blessing carries the Evaluator's marker files too."""

import os

import pytest
from tfx.types import standard_artifacts

from components import model_analysis


@pytest.mark.parametrize(
  'blessed, marker', [(True, 'BLESSED'), (False, 'NOT_BLESSED')]
)
def test_blessing_has_its_marker_file_and_property(tmp_path, blessed, marker):
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / 'model')
  evaluator_blessing = standard_artifacts.ModelBlessing()
  evaluator_blessing.set_int_custom_property('current_model_id', 7)
  blessing = standard_artifacts.ModelBlessing()
  blessing.uri = str(tmp_path / 'blessing')
  model_analysis.write_blessing(blessing, model, evaluator_blessing, blessed)
  assert os.listdir(blessing.uri) == [marker]
  assert blessing.get_int_custom_property('blessed') == int(blessed)
  assert blessing.get_int_custom_property('current_model_id') == 7
