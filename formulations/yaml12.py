"""The YAML loader every YAML bundleopt reads goes through: numbers as YAML 1.2 reads them.

PyYAML implements YAML 1.1, where a float needs a dot: ``1e-3`` and ``1e308`` are read as
*text*, so ``--set scale.wtp=1e-3`` and ``min_margin: 1e-3`` were refused as "expected a
number". YAML 1.2 (and JSON) read them as floats; this loader does too. It keeps YAML
1.1's other scalars (``.inf``, ``.nan``, booleans), which the readers then judge.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

#: YAML 1.2 core schema floats without a dot (``1e-3``, ``-2E+5``); YAML 1.1's own float
#: pattern still reads the ones with a dot.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$")


class Yaml12Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3``-style numbers as floats."""


for _first in "-+0123456789":
    Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, [_first])


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=Yaml12Loader)
