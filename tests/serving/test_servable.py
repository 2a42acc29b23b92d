"""serving.servable: signatures run on first call, from many threads at once."""

import concurrent.futures

import numpy as np

from serving.servable import DEFAULT_SIGNATURE, Servable, synthetic_inputs


def _rows(signature, count: int) -> dict[str, np.ndarray]:
  one = synthetic_inputs(signature.inputs)
  return {name: np.repeat(value, count, axis=0) for name, value in one.items()}


def test_concurrent_first_calls_all_answer_alike(model_v1_template):
  # A fresh load: no signature has run yet, so every thread races to make
  # the session callable of the same signature.
  servable = Servable('taxi', 1, model_v1_template[1])
  signature = servable.signature(DEFAULT_SIGNATURE)
  inputs = _rows(signature, 3)
  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    answers = list(
      pool.map(lambda _: servable.run(signature, inputs), range(16))
    )
  expected = servable.run(signature, inputs)
  for answer in answers:
    assert answer.keys() == expected.keys()
    for name, value in expected.items():
      np.testing.assert_array_equal(answer[name], value)


def test_every_signature_runs_after_another_has(model_v1_template):
  servable = Servable('taxi', 1, model_v1_template[1])
  servable.warm_up()
  for name, signature in servable.signatures.items():
    if not signature.batchable:
      continue
    outputs = servable.run(signature, _rows(signature, 2))
    assert set(outputs) == set(signature.outputs), name
    assert all(len(value) == 2 for value in outputs.values()), name
