"""Models for quoting: market features, Avellaneda-Stoikov quotes, online sigma/A/k estimators.

Pure logic, no I/O: actors pass values and arrays in. The public names are re-exported here.
"""

from agents.ml.avellaneda import AvellanedaStoikovConfig as AvellanedaStoikovConfig
from agents.ml.avellaneda import Quote as Quote
from agents.ml.avellaneda import quote as quote
from agents.ml.estimators import FitResult as FitResult
from agents.ml.estimators import IntensityEstimator as IntensityEstimator
from agents.ml.estimators import SigmaEstimator as SigmaEstimator
from agents.ml.estimators import fit_intensity as fit_intensity
from agents.ml.features import EfficiencyRatio as EfficiencyRatio
from agents.ml.features import EwmaVol as EwmaVol
from agents.ml.features import GarmanKlassVol as GarmanKlassVol
from agents.ml.features import Momentum as Momentum
from agents.ml.features import OuHalfLife as OuHalfLife
from agents.ml.features import ParkinsonVol as ParkinsonVol
from agents.ml.features import ZScore as ZScore

__all__ = [name for name in dir() if not name.startswith("_")]
