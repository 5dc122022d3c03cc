// CanKit is written against TorchSharp's API, as its examples are: `torch.*` functions, `nn` modules, `optim`.
global using TorchSharp;
global using TorchSharp.Modules;
global using static TorchSharp.torch;
global using Tensor = TorchSharp.torch.Tensor;
