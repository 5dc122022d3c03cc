using CanKit.Ablation;
using Xunit;

namespace CanKit.Tests;

public class SuiteProgressTests
{
    [Fact]
    public void TimeLeftIsTheMeanTrainedRunTimesTheRunsToComeAndReusedRunsAreNotCounted()
    {
        var p = new SuiteProgress(6);
        Assert.Null(p.SecondsLeft);
        Assert.Equal("run 1/6: can seed 0 (done before) · 0.0 min so far, time left known after the first trained run", p.Before("can", 0, reused: true));
        p.After(reused: true, 0.5);
        Assert.Null(p.SecondsLeft);                                  // a reused run says nothing of a trained one's time
        p.After(reused: false, 30);
        p.After(reused: false, 90);                                  // mean 60 s per trained run, 3 runs to come
        Assert.Equal(180, p.SecondsLeft!.Value, 9);
        Assert.Equal("run 4/6: mae seed 1 · 2.0 min so far, about 3.0 min left (mean 60 s per trained run)", p.Before("mae", 1, reused: false));
        p.After(reused: false, 120);                                 // mean 80 s, 2 to come
        Assert.Equal(160, p.SecondsLeft!.Value, 9);
        p.After(reused: true, 1);
        p.After(reused: false, 80);
        Assert.Equal(0, p.SecondsLeft!.Value, 9);
        Assert.Throws<InvalidOperationException>(() => p.After(reused: false, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SuiteProgress(0));
    }
}
