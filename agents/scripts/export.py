"""Export a trained policy as one file that runs without JAX or this package.

    python -m agents.scripts.export --logdir=./logdir/<time>-<config> --format=onnx --out=policy.onnx
    python -m agents.scripts.export --logdir=... --checkpoint=best --format=stablehlo --out=policy.shlo

The file holds the deterministic policy as evaluation runs it (observation
normalizer, network, the distribution's mode, the action bounds); recurrent
policies take and return their state. ONNX runs under onnxruntime:

    import onnxruntime
    session = onnxruntime.InferenceSession('policy.onnx')
    (action,) = session.run(None, {'observation': observ[None].astype('float32')})

`--format=onnx` needs the `export` extra: pip install -e '.[export]'.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from agents import settings
from agents.errors import EnvError, UsageError
from agents.scripts import configs
from agents.scripts.visualize import add_run_arguments


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m agents.scripts.export', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  add_run_arguments(parser)
  parser.add_argument('--format', choices=('onnx', 'stablehlo'), default='onnx')
  parser.add_argument('--out', required=True, help='The file to write.')
  parser.add_argument('--batch', type=int, default=None, metavar='N',
                      help='Fix the batch size (faster; default: any batch size).')
  args = parser.parse_args(argv)
  if args.batch is not None and args.batch < 1:
    print(f'error: --batch must be >= 1, got {args.batch}.', file=sys.stderr)
    return 2
  if os.path.isdir(args.out):
    print(f"error: --out '{args.out}' is a directory; give a file name "
          f"(e.g. {os.path.join(args.out, 'policy.' + args.format)}).", file=sys.stderr)
    return 2
  try:
    settings.check()
    from agents.run import export, policy as policy_lib
    policy = policy_lib.load_policy(args.logdir, configs.catalog(), args.checkpoint)
    export.export(policy, args.format, args.out, args.batch)
  except (UsageError, EnvError) as error:
    print(f'error: {error}', file=sys.stderr)
    return error.exit_code
  except OSError as error:
    print(f"error: cannot write '{args.out}': {error.strerror or error}.", file=sys.stderr)
    return 1
  kind = 'recurrent ' if policy._algorithm.network.recurrent else ''
  print(f'Exported the {kind}policy of {args.logdir} (checkpoint step {policy.step:,}, '
        f'{policy.spec.describe()} actions) as {args.format} to {args.out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
