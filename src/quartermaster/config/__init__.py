"""Configuration: the ``tools.yaml`` schema, loading, and precise errors."""

from ._base import RISK_ORDER as RISK_ORDER
from ._base import ConfigModel as ConfigModel
from ._base import RiskClass as RiskClass
from ._base import SecretHandle as SecretHandle
from ._base import is_secret_handle as is_secret_handle
from ._checks import TOOL_SEPARATOR as TOOL_SEPARATOR
from ._errors import ConfigError as ConfigError
from ._errors import ConfigProblem as ConfigProblem
from ._loader import LoadedConfig as LoadedConfig
from ._loader import load_config as load_config
from ._loader import parse_config as parse_config
from ._model import Limits as Limits
from ._model import QuartermasterConfig as QuartermasterConfig
from ._model import ServeConfig as ServeConfig
from ._servers import ServerConfig as ServerConfig
from ._servers import Timeouts as Timeouts
from ._servers import ToolSettings as ToolSettings
