"""The test project plus `stock`, an app whose data migrations need their Python code run
(expand, back-fill, contract): the runner tests (test_runner.py) use these settings."""
from .settings import *  # noqa: F401,F403
from .settings import INSTALLED_APPS

INSTALLED_APPS = INSTALLED_APPS + ["stock.apps.StockConfig"]
