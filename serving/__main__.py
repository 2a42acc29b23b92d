"""`python -m serving --model_name=taxi --model_base_path=serving_model/taxi --rest_api_port=8501`"""

import logging
import os
import sys

# The project's choice; set before TensorFlow is imported anywhere.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')


def main(argv: list[str] | None = None) -> int:
  from serving import config as config_module
  from serving import real_binary

  argv = sys.argv[1:] if argv is None else argv
  parser = config_module.build_parser()
  args = parser.parse_args(argv)
  logging.basicConfig(
    level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s'
  )
  if args.use_real_binary:
    try:
      real_binary.exec_real_binary(args, argv)
    except FileNotFoundError as exc:
      parser.exit(2, f'error: {exc}\n')
  try:
    server_config = config_module.config_from_args(args)
  except (OSError, ValueError) as exc:
    parser.exit(2, f'error: {exc}\n')

  if server_config.workers > 1:
    from serving.workers import run_workers  # The parent loads no model.

    return run_workers(argv, server_config)
  if server_config.proxy_to:
    from serving.proxy import ProxyServer

    ProxyServer(server_config).run_until_signal()
    return 0
  from serving.server import (
    ModelServer,  # Imports TensorFlow: only once we know we serve ourselves.
  )

  ModelServer(server_config).run_until_signal()
  return 0


if __name__ == '__main__':
  sys.exit(main())
