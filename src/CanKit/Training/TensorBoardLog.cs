using CanKit.Data;

namespace CanKit.Training;

/// <summary>
/// Writes step metrics as TensorBoard scalars, through TorchSharp's <c>torch.utils.tensorboard.SummaryWriter</c>: one
/// <c>events.out.tfevents.*</c> file of TFRecords per writer in <see cref="Folder"/> (a resumed run adds a file beside the
/// earlier ones; TensorBoard reads them all). View with <c>tensorboard --logdir DIR</c>. Each event carries the real wall
/// time at which its step was logged, in whole seconds (the writer's wall times are integers).
/// </summary>
public sealed class TensorBoardLog
{
    /// <summary>The scalar tags written for every logged step, in the order of <see cref="Scalars"/>.</summary>
    public static readonly IReadOnlyList<string> StepTags =
    [
        "loss/total", "loss/contrastive", "loss/reconstruction", "loss/denoise", "train/contrastive_top1", "train/lr", "train/images_per_s",
    ];

    /// <summary>The online kNN monitor's top-1, written only on the steps it measured.</summary>
    public const string KnnTag = "monitor/knn_top1";

    /// <summary>CAN's reconstruction grid at the end of a run (originals, masked noisy inputs, reconstructions, predicted noise).</summary>
    public const string ReconstructionTag = "images/reconstructions";

    private readonly SummaryWriter _writer;

    /// <summary>Opens a new event file in <paramref name="folder"/> (created if missing).</summary>
    /// <exception cref="IOException"><paramref name="folder"/> is a file.</exception>
    public TensorBoardLog(string folder)
    {
        Check(folder, steps: 0);
        _writer = utils.tensorboard.SummaryWriter(folder);
    }

    /// <summary>The folder the event files are written to.</summary>
    public string Folder => _writer.LogDir;

    /// <summary>
    /// Refuses, before anything is written, a folder that is a file and a run longer than the event format's step numbers
    /// (the writer's steps are 32-bit).
    /// </summary>
    public static void Check(string folder, long steps)
    {
        if (File.Exists(folder)) throw new IOException($"{folder}: is a file; the TensorBoard folder must be a folder");
        if (steps > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(steps), steps, $"TensorBoard's step numbers end at {int.MaxValue}");
    }

    /// <summary>A logged step's scalars: <see cref="StepTags"/>, then <see cref="KnnTag"/> when the monitor measured it.</summary>
    public static IEnumerable<(string Tag, double Value)> Scalars(StepMetrics m)
    {
        double[] values = [m.Loss, m.Contrastive, m.Reconstruction, m.Denoise, m.ContrastiveTop1, m.LearningRate, m.ImagesPerSecond];
        for (int i = 0; i < values.Length; i++) yield return (StepTags[i], values[i]);
        if (m.HasKnn) yield return (KnnTag, m.KnnTop1);
    }

    /// <summary>Writes <paramref name="m"/>'s scalars at its step, with the wall time now.</summary>
    public void Write(StepMetrics m) => Write(m, DateTimeOffset.UtcNow);

    /// <summary>Writes <paramref name="m"/>'s scalars at its step, with wall time <paramref name="at"/>.</summary>
    public void Write(StepMetrics m, DateTimeOffset at)
    {
        int step = StepOf(m.Step);
        long wall = at.ToUnixTimeSeconds();
        foreach (var (tag, value) in Scalars(m)) _writer.add_scalar(tag, (float)value, step, wall);
    }

    /// <summary>Writes the PNG file <paramref name="png"/> as image <paramref name="tag"/> at <paramref name="step"/>.</summary>
    public void AddImage(string tag, string png, long step) =>
        _writer.add_img(tag, png, StepOf(step), DateTimeOffset.UtcNow.ToUnixTimeSeconds());

    /// <summary>
    /// The reconstruction grid of the CAN run in <paramref name="runDir"/> (<see cref="RunExport.SaveReconstructions"/> on its
    /// checkpoint) as image <see cref="ReconstructionTag"/> at <paramref name="step"/>. False, writing nothing, without a PNG codec.
    /// </summary>
    public bool AddReconstructions(string runDir, long step)
    {
        if (!ImageCodec.HasPng) return false;
        string png = Path.Combine(Folder, $".reconstructions.{Guid.NewGuid():N}.png");
        try
        {
            RunExport.SaveReconstructions(runDir, png);
            AddImage(ReconstructionTag, png, step);
        }
        finally
        {
            File.Delete(png);
        }
        return true;
    }

    private static int StepOf(long step) =>
        step is >= 0 and <= int.MaxValue ? (int)step
            : throw new ArgumentOutOfRangeException(nameof(step), step, $"must be in 0..{int.MaxValue}");
}
