using System.Diagnostics;

namespace CanKit.Training;

public sealed partial class Trainer
{
    // The metrics lines (files, TensorBoard, progress): images/s over the steps since the last line, training time with the
    // monitor's left out.
    private sealed class StepLog(MetricsLog? metrics, TensorBoardLog? board, IProgress<StepMetrics>? progress)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private double _logStart, _monitorSeconds;

        public long Images { get; set; }

        public void Write(RunState run, Func<double>? monitor)
        {
            double knn = double.NaN;
            if (monitor is not null)
            {
                double before = _clock.Elapsed.TotalSeconds;
                knn = monitor();
                _monitorSeconds += _clock.Elapsed.TotalSeconds - before;
            }
            double now = _clock.Elapsed.TotalSeconds - _monitorSeconds;   // training time: the monitor's is left out
            var t = run.Terms;
            var m = new StepMetrics(run.Step, run.Position.Epoch, run.LearningRate, t.Total, t.Contrastive, t.Reconstruction, t.Denoise,
                t.ContrastiveTop1, Images / Math.Max(1e-9, now - _logStart), now, knn);
            metrics?.Write(m);
            board?.Write(m);
            progress?.Report(m);
            Images = 0;
            _logStart = now;
        }
    }
}
