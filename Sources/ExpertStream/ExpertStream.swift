@_exported import Benchmarks
@_exported import Checkpoints
@_exported import Continual
// ExpertStream: the library a researcher imports. It re-exports every layer.
@_exported import Datasets
@_exported import Experiments
@_exported import MoE
@_exported import NN
@_exported import Reports
@_exported import Sweeps
@_exported import TensorCore
