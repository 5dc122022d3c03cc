// The command line speaks TorchSharp's API directly, as the library does: `torch.*`, `nn` modules, `optim`.
global using TorchSharp;
global using TorchSharp.Modules;
global using static TorchSharp.torch;
global using Tensor = TorchSharp.torch.Tensor;
