// Written against TorchSharp's API, as CanKit is: `torch.*` functions, `nn` modules.
global using TorchSharp;
global using TorchSharp.Modules;
global using static TorchSharp.torch;
global using Tensor = TorchSharp.torch.Tensor;
