"""One run's directory: its name, its files, its lock, and how to resume it.

A run lives in `<logdir>/<timestamp>-<config>[-seed<k>]/`. The timestamp is a
name, never a path, so a run cannot be written outside its logdir. Every file
of the run that a later process reads back is written atomically
(`write_atomic`: temporary file, fsync, rename, fsync of the directory), so a
crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import shlex
from typing import IO, Sequence

from agents.errors import UsageError
from agents.run import run_lock

CONFIG_FILE = 'config.yaml'
RUN_FILE = 'run.yaml'
METRICS_FILE = 'metrics.jsonl'
CHECKPOINTS = 'checkpoints'

_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.,=+-]*$')


def new_timestamp() -> str:
  """Now, as a run's timestamp (20261201T101500)."""
  return datetime.datetime.now().strftime('%Y%m%dT%H%M%S')


def check_name(text: str, what: str = '--timestamp') -> str:
  """`text` if it can name a directory inside the logdir; UsageError if it is a path."""
  if not isinstance(text, str) or not _NAME.match(text) or text in ('.', '..'):
    raise UsageError(
        f"{what} must be a plain name (letters, digits and _ . , = + -, not "
        f"starting with - or .), got {text!r}: it names a folder inside --logdir.")
  return text


def write_atomic(path: str, data: bytes | str) -> None:
  """Write `data` to `path` so that a crash leaves the old file or the new one."""
  directory = os.path.dirname(os.path.abspath(path))
  temporary = f'{path}.tmp-{os.getpid()}'
  mode = 'wb' if isinstance(data, bytes) else 'w'
  try:
    with open(temporary, mode) as stream:
      stream.write(data)
      stream.flush()
      os.fsync(stream.fileno())
    os.replace(temporary, path)
  except BaseException:
    if os.path.exists(temporary):
      os.remove(temporary)
    raise
  fsync_directory(directory)


def fsync_directory(directory: str) -> None:
  """Make a rename durable: the directory entry itself is synced."""
  descriptor = os.open(directory, os.O_RDONLY)
  try:
    os.fsync(descriptor)
  finally:
    os.close(descriptor)


def config_name_of(path: str) -> str:
  """The config a run directory was trained with: run.yaml's `config_name`, else
  its name after the timestamp (a damaged run.yaml falls back to that too)."""
  import yaml
  name = os.path.basename(os.path.normpath(path)).split('-', 1)[-1]
  try:
    with open(os.path.join(path, RUN_FILE), 'rb') as stream:
      meta = yaml.safe_load(stream.read().decode('utf-8'))
  except (OSError, UnicodeDecodeError, yaml.YAMLError):
    return name
  saved = meta.get('config_name') if isinstance(meta, dict) else None
  return str(saved) if isinstance(saved, str) and saved else name


@dataclasses.dataclass(frozen=True)
class RunDir:
  """The directory of one run: `<logdir>/<timestamp>-<config_name><suffix>`."""
  logdir: str
  config_name: str
  timestamp: str
  suffix: str = ''

  def __post_init__(self) -> None:
    check_name(self.timestamp)

  @classmethod
  def new(cls, logdir: str, config_name: str, timestamp: str | None = None,
          suffix: str = '') -> 'RunDir':
    return cls(logdir, config_name, timestamp or new_timestamp(), suffix)

  @property
  def name(self) -> str:
    return f'{self.timestamp}-{self.config_name}{self.suffix}'

  @property
  def path(self) -> str:
    return os.path.join(self.logdir, self.name)

  @property
  def checkpoints(self) -> str:
    return os.path.join(self.path, CHECKPOINTS)

  def file(self, name: str) -> str:
    return os.path.join(self.path, name)

  def resume_command(self, extra: Sequence[str] = ()) -> str:
    """The shell command that resumes this run (quoted, so it pastes back)."""
    words = ['python', '-m', 'agents.scripts.train', f'--logdir={self.logdir}',
             f'--config={self.config_name}', f'--timestamp={self.timestamp}', *extra]
    return shlex.join(words)

  def prepare(self) -> None:
    """Create the directory and check that it can be written; UsageError if not."""
    try:
      os.makedirs(self.path, exist_ok=True)
      probe = self.file('.write-test')
      with open(probe, 'w') as stream:
        stream.write('ok')
      os.remove(probe)
    except OSError as error:
      raise UsageError(f"Cannot write the log directory '{self.path}': "
                       f'{error.strerror or error}. Pick another --logdir.') from None

  def lock(self) -> IO[str]:
    """Hold the directory for this process (keep the returned file open)."""
    return run_lock.lock_run_dir(self.path)

  def write_run_files(self, config_yaml: str) -> None:
    """config.yaml (what `visualize` and a resume read) and run.yaml."""
    write_atomic(self.file(CONFIG_FILE), config_yaml)
    write_atomic(self.file(RUN_FILE), f'config_name: {self.config_name}\n'
                                      f'timestamp: {self.timestamp!r}\n')
