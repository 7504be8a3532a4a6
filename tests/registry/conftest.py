"""Fixtures of the registry tests: the front tests' own, reused rather than copied.

``tests/front/conftest.py`` defines the servers (``FrontServer``), the API client (``Front``) and
the fixtures ``make_front`` and ``_localhost_names`` (``*.localhost`` resolves to 127.0.0.1 in
this process, so the runtime tests' Node-RED client reaches ``http://r1.localhost:PORT/``).
pytest only applies a conftest.py to the tests below its own directory, so ``registrylib``
loads that file as the module ``redhive_front_conftest`` (not as ``conftest``, which is this
file's name) and this file re-exports its fixtures: pytest registers the fixtures it finds
among a conftest's attributes, imported or not. Loading it also puts tests/front
(``frontlib``), tests/runtime (``nodered``) and tests/python (``redhive_server``) on sys.path.

The environment of tests/front/conftest.py applies: ``REDHIVE_BIN``, ``REDHIVE_NODE_HOME``,
``REDHIVE_KEEP_TMP=1``; only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from registrylib import front_conftest  # noqa: E402

_localhost_names = front_conftest._localhost_names  # session-scoped, autouse
make_front = front_conftest.make_front
