using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using CanKit.Augment;
using CanKit.Data;
using CanKit.Optim;
using CanKit.Training;

namespace CanKit.Cli.Bench;

/// <summary>
/// `cankit bench loader`: images per second the prefetching loader delivers from the same cache read three ways —
/// in memory (a managed array), from the file by positioned reads, through a memory map — and from the file after
/// its pages are evicted from the page cache (cold), against images per second a CAN training step (two-view
/// augmentation, forward, backward, AdamW) consumes at the same size. Alternating rounds (<see cref="SideBySide"/>):
/// medians and per-round ratios. With <c>--folder</c> it reads an image-folder cache (e.g. 224 px ImageNet
/// layout); without, a temporary file of random images.
/// </summary>
internal static class LoaderBench
{
    public static Command Create()
    {
        var rounds = new Option<int>("--rounds") { Description = "alternating rounds", DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch") { Description = "images per batch", DefaultValueFactory = _ => 64 };
        var folder = new Option<string?>("--folder")
        {
            Description = "image folder whose cache at --side to read (default: a temporary file of random images)",
        };
        var side = new Option<int>("--side") { Description = "image side", DefaultValueFactory = _ => 224 }.Between(1, ImageFolder.MaxSide);
        var inMemory = new Option<int>("--memory-images")
        {
            Description = "images of the set copied into memory for the in-memory contender (and of the temporary file)",
            DefaultValueFactory = _ => 2048,
        }.Between(2, 1_000_000);
        var batches = new Option<int>("--batches") { Description = "batches per loader measurement", DefaultValueFactory = _ => 20 }.Between(1, 100_000);
        var workers = new Option<int>("--workers")
        {
            Description = "also measure the file with this many loader threads (the other rows use one)",
            DefaultValueFactory = _ => 1,
        }.Between(1, 64);
        var width = new Option<int>("--width") { Description = "encoder width of the step", DefaultValueFactory = _ => 192 };
        var depth = new Option<int>("--depth") { Description = "encoder blocks of the step", DefaultValueFactory = _ => 12 };
        var heads = new Option<int>("--heads") { Description = "attention heads of the step", DefaultValueFactory = _ => 3 };
        var patch = new Option<int>("--patch") { Description = "patch size of the step", DefaultValueFactory = _ => 16 };
        var cmd = new Command("loader", "loader throughput (memory, file, memory map, cold file) vs a CAN step's consumption")
            { rounds, batch, folder, side, inMemory, batches, workers, width, depth, heads, patch };
        cmd.SetAction(r => Cli.Guard(() => Run(r.GetValue(rounds), r.GetValue(batch), r.GetValue(folder), r.GetValue(side),
                                              r.GetValue(inMemory), r.GetValue(batches), r.GetValue(workers),
                                              new RunSpec("can", "paper", $"folder-{r.GetValue(side)}", null,
                                                          Width: r.GetValue(width), Depth: r.GetValue(depth), Heads: r.GetValue(heads),
                                                          PatchSize: r.GetValue(patch), BatchSize: r.GetValue(batch), Steps: 1,
                                                          LearningRate: 1e-4))));
        return cmd;
    }

    private static int Run(int rounds, int batch, string? folder, int side, int memoryImages, int batches, int workers, RunSpec stepSpec)
    {
        if (rounds < 1) throw new ArgumentException($"--rounds must be ≥ 1 (got {rounds})");
        if (batch < 2) throw new ArgumentException($"--batch must be ≥ 2 (got {batch})");
        string? temp = null;
        ImageSet file, mapped;
        if (folder is not null)
            (file, mapped) = (ImageFolder.Open(folder, side, ImageStorage.File), ImageFolder.Open(folder, side, ImageStorage.Mapped));
        else
        {
            // Random images in a temporary file, read the same ways as a cache.
            temp = Path.Combine(Path.GetTempPath(), $"cankit-loader-bench-{Environment.ProcessId}.bin");
            var px = new byte[(long)memoryImages * 3 * side * side];
            new Random(0).NextBytes(px);
            File.WriteAllBytes(temp, px);
            var labels = new int[memoryImages];
            file = new ImageSet("random", new FilePixels(temp), 0, labels, 3, side, side, ["x"], Normalization.ImageNet);
            mapped = new ImageSet("random", new MappedPixels(temp), 0, labels, 3, side, side, ["x"], Normalization.ImageNet);
        }
        try
        {
            var memory = file.Take(memoryImages).ToMemory();
            if (batch > memory.Count) throw new ArgumentException($"--batch {batch} is more than the {memory.Count} images of the in-memory copy");
            Console.WriteLine($"{MachineInfo.CpuModel}, {MachineInfo.Cores} cores, {torch.get_num_threads()} threads; {file.Count} images of {side}² " +
                              $"({file.PixelBytes / 1e9:F2} GB) in {file.Storage.Source}; in memory: the first {memory.Count}; batch {batch}");

            long epoch = 0;
            double Loader(ImageSet set, bool cold, int threads = 1)
            {
                if (cold) Evict(set.Storage.Source);
                var sw = Stopwatch.StartNew();
                using var loader = new BatchLoader(set, batch, 7, new DataPosition(++epoch, 0), workers: threads);
                for (int i = 0; i < batches; i++) loader.Next().Images.Dispose();
                return batches * batch / sw.Elapsed.TotalSeconds;
            }

            using var g = new Generator(0);
            using var method = stepSpec.MethodSpec().Create(stepSpec.Encoder(memory), g);
            using var opt = optim.AdamW(WeightDecayGroups.Split(method.Module, 0.05, "pos_embed", "mask_token"), lr: 1e-4);
            using var stepLoader = new BatchLoader(memory, batch, 3, new DataPosition(0, 0));
            double Step(int steps)
            {
                var raws = Enumerable.Range(0, steps).Select(_ => stepLoader.Next().Images).ToList();
                var sw = Stopwatch.StartNew();
                foreach (var raw in raws)
                {
                    using var scope = torch.NewDisposeScope();
                    opt.zero_grad();
                    method.Step(raw, memory.Normalization, g).Loss.backward();
                    opt.step();
                    raw.Dispose();
                }
                return steps * batch / sw.Elapsed.TotalSeconds;
            }
            Step(1);   // warm-up (and the loader's code paths below)
            Loader(memory, false);

            var contenders = new List<(string, Func<double>)>
            {
                ("memory", () => Loader(memory, false)),
                ("file", () => Loader(file, false)),
                ("mapped", () => Loader(mapped, false)),
                ("file, cold", () => Loader(file, true)),
                ("CAN step", () => Step(2)),
            };
            if (workers > 1)
            {
                contenders.Add(($"file, {workers} threads", () => Loader(file, false, workers)));
                contenders.Add(($"file, cold, {workers} threads", () => Loader(file, true, workers)));
            }
            var res = SideBySide.Run(contenders, rounds, (round, so) =>
                Console.WriteLine($"round {round + 1}/{rounds}: " + string.Join("  ", so.Names.Select(n => $"{n} {so.Values(n)[^1]:F0}")) + " images/s"));
            Console.WriteLine();
            var table = new MarkdownTable("source", "images/s", "vs file", "vs CAN step") { RightAligned = { 1, 2, 3 } };
            foreach (string n in res.Names)
                table.Add(n, $"{res.Median(n):F0}", $"{res.MedianRatio(n, "file"):F2}×", $"{res.MedianRatio(n, "CAN step"):F1}×");
            Console.Write(table);
            Console.WriteLine($"medians over {rounds} rounds; ratios are medians of per-round ratios. " +
                              $"CAN step: ViT {stepSpec.Width}×{stepSpec.Depth}, patch {stepSpec.PatchSize}, " +
                              $"augmentation included; loader rows: raw uint8 batches of {batches} × {batch}. " +
                              "Cold: the file's pages evicted (posix_fadvise DONTNEED) first.");
            if (folder is not null) StorageSide(folder, side, batch);
            return 0;
        }
        finally
        {
            file.Storage.Dispose();
            mapped.Storage.Dispose();
            if (temp is not null) File.Delete(temp);
        }
    }

    // What storing larger (e.g. 256² for a random-resized crop to 224 at load) would cost: bytes per image, the
    // decode + resize of a source JPEG at each side, and the two-view augmentation (random-resized crop, flip,
    // colour) of a batch from each side to the training side. Measured once each, adjacent, median of 5.
    private static void StorageSide(string folder, int side, int batch)
    {
        int larger = side * 8 / 7;   // 224 → 256, as ImageNet's resize-256-crop-224
        var jpegs = ImageFolder.ImageFiles(folder).Take(32).ToList();
        using var g = new Generator(1);
        Console.WriteLine();
        var table = new MarkdownTable("stored side", "bytes / image", "decode + resize ms / image",
                                      $"two views of a batch of {batch} → {side}², ms") { RightAligned = { 1, 2, 3 } };
        foreach (int s in new[] { side, larger })
        {
            var decode = new List<double>();
            var augment = new List<double>();
            using var wide = torch.randint(0, 256, [batch, 3, s, s], generator: g);   // [B, 3, s, s] int64
            using var raw = wide.to(ScalarType.Byte);
            for (int r = 0; r < 5; r++)
            {
                var sw = Stopwatch.StartNew();
                foreach (string f in jpegs)
                {
                    using var chw = ImageCodec.DecodeFile(f);
                    using var sq = ImageCodec.ResizeCenterCrop(chw, s);
                }
                decode.Add(sw.Elapsed.TotalMilliseconds / jpegs.Count);
                sw.Restart();
                var (v1, v2) = TwoViewPipeline.Can.Apply(raw, Normalization.ImageNet, side, g);
                v1.Dispose();
                v2.Dispose();
                augment.Add(sw.Elapsed.TotalMilliseconds);
            }
            table.Add($"{s}", $"{3 * s * s}", $"{SideBySide.MedianOf(decode):F1}", $"{SideBySide.MedianOf(augment):F0}");
        }
        Console.Write(table);
        Console.WriteLine($"decode over the first {jpegs.Count} files of {folder}; " +
                          "the augmentation crops from whatever side is stored, so a larger store changes only these costs");
    }

    // Drops the file's clean pages from the page cache (only this file's; nothing else on the machine is touched).
    private static void Evict(string path)
    {
        using var h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        const int dontNeed = 4;   // POSIX_FADV_DONTNEED on Linux
        if (OperatingSystem.IsLinux()) posix_fadvise((int)h.DangerousGetHandle(), 0, 0, dontNeed);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int posix_fadvise(int fd, long offset, long length, int advice);
}
