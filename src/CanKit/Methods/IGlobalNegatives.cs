using CanKit.Distributed;

namespace CanKit.Methods;

/// <summary>A method whose contrastive loss can take its negatives from every rank of a data-parallel group.</summary>
public interface IGlobalNegatives
{
    /// <summary>
    /// Null: negatives from this process's batch. A group: the embeddings of every rank are gathered (with gradient),
    /// so the loss equals that of one process holding the global batch. Every rank must then run each step.
    /// </summary>
    ProcessGroup? NegativesGroup { get; set; }
}
