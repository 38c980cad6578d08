"""Policy: risk classes (classify), rules to decisions (decide), and analysis for the CLI.

Pure code: no I/O, and the current time is always handed in.
"""

from ._analysis import Finding as Finding
from ._analysis import unreachable_rules as unreachable_rules
from ._analysis import unreached_tools as unreached_tools
from ._classify import Classification as Classification
from ._classify import RiskSource as RiskSource
from ._classify import classify as classify
from ._engine import PolicyEngine as PolicyEngine
from ._engine import policy_version as policy_version
from ._errors import PolicyDenied as PolicyDenied
from ._errors import TargetInvalid as TargetInvalid
from ._explain import Explanation as Explanation
from ._explain import RuleTrace as RuleTrace
from ._explain import explain as explain
from ._inventory import AccessRow as AccessRow
from ._inventory import inventory as inventory
from ._inventory import inventory_json as inventory_json
from ._inventory import inventory_table as inventory_table
from ._model import ApprovalRequirement as ApprovalRequirement
from ._model import CallFacts as CallFacts
from ._model import Decision as Decision
from ._model import Effect as Effect
from ._model import Subject as Subject
from ._model import ToolFacts as ToolFacts
from ._model import grant_ttl as grant_ttl
from ._target import TargetTemplate as TargetTemplate
from ._target import render_target as render_target
