"""Assembly: opening the services a configuration describes, and ordering the stages."""

from ._checks import CHECKS as CHECKS
from ._checks import load as load
from ._reload import RELOADABLE as RELOADABLE
from ._reload import ReloadPlan as ReloadPlan
from ._reload import apply_reload as apply_reload
from ._reload import plan_reload as plan_reload
from ._services import CONSOLE_LOGIN_KEY as CONSOLE_LOGIN_KEY
from ._services import Services as Services
from ._services import derive_key as derive_key
from ._services import open_services as open_services
from ._stages import build_listing as build_listing
from ._stages import build_stages as build_stages
