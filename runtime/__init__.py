"""Kinetic's kernel: messages, actors, the sim and live kernels, the journal and its stores.

This is the public face; the implementation lives in private modules. `runtime` imports no agent,
adapter or API module (an import-linter contract checks it).
"""

from runtime._actor import Actor as Actor
from runtime._adapter import Adapter as Adapter
from runtime._adapter import AdapterPort as AdapterPort
from runtime._adapter import Reconciliation as Reconciliation
from runtime._approvals import ApprovalDesk as ApprovalDesk
from runtime._approvals import ApprovalGranted as ApprovalGranted
from runtime._approvals import ApprovalRefused as ApprovalRefused
from runtime._approvals import ApprovalRejected as ApprovalRejected
from runtime._approvals import ApprovalRequested as ApprovalRequested
from runtime._approvals import Approve as Approve
from runtime._approvals import Reject as Reject
from runtime._approvals import RequestApproval as RequestApproval
from runtime._cell import ActorSpec as ActorSpec
from runtime._context import Context as Context
from runtime._errors import ActorEscalatedError as ActorEscalatedError
from runtime._errors import ConfigError as ConfigError
from runtime._errors import JournalBrokenError as JournalBrokenError
from runtime._errors import JournalClosedError as JournalClosedError
from runtime._errors import KernelClosedError as KernelClosedError
from runtime._errors import KineticError as KineticError
from runtime._errors import RegistryError as RegistryError
from runtime._errors import ReplayDivergedError as ReplayDivergedError
from runtime._errors import StoreBrokenError as StoreBrokenError
from runtime._errors import StoreClosedError as StoreClosedError
from runtime._errors import StoreLockedError as StoreLockedError
from runtime._journal import GENESIS as GENESIS
from runtime._journal import Journal as Journal
from runtime._journal import JournalLevel as JournalLevel
from runtime._journal import JournalRow as JournalRow
from runtime._journal import MemoryStore as MemoryStore
from runtime._journal import RunInfo as RunInfo
from runtime._journal import Snapshot as Snapshot
from runtime._journal import Store as Store
from runtime._journal import verify_rows as verify_rows
from runtime._kernel import KERNEL as KERNEL
from runtime._kernel import Divergence as Divergence
from runtime._kernel import KernelBase as KernelBase
from runtime._kernel_messages import ActorEscalated as ActorEscalated
from runtime._kernel_messages import ActorRestarted as ActorRestarted
from runtime._kernel_messages import Conflated as Conflated
from runtime._kernel_messages import DeadLetter as DeadLetter
from runtime._kernel_messages import EffectAcked as EffectAcked
from runtime._kernel_messages import EffectFailed as EffectFailed
from runtime._kernel_messages import EffectReconciled as EffectReconciled
from runtime._kernel_messages import Start as Start
from runtime._kernel_messages import Stop as Stop
from runtime._kernel_messages import TimerFired as TimerFired
from runtime._kernel_messages import TradingScope as TradingScope
from runtime._kernel_messages import TradingState as TradingState
from runtime._kernel_messages import TradingStateChanged as TradingStateChanged
from runtime._live import LiveKernel as LiveKernel
from runtime._message import CODEC as CODEC
from runtime._message import Envelope as Envelope
from runtime._message import Message as Message
from runtime._message import message_type as message_type
from runtime._message import message_types as message_types
from runtime._service import CREDENTIAL_VARS as CREDENTIAL_VARS
from runtime._service import OPERATOR as OPERATOR
from runtime._service import Daemon as Daemon
from runtime._service import Service as Service
from runtime._service import Tap as Tap
from runtime._sim import SimKernel as SimKernel
from runtime._tokens import ROLES as ROLES
from runtime._tokens import Principal as Principal
from runtime._tokens import Role as Role
from runtime._tokens import TokenStore as TokenStore
from runtime.config import ConfigBase as ConfigBase

__all__ = [name for name in dir() if not name.startswith("_")]
