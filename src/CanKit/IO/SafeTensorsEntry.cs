namespace CanKit.IO;

/// <summary>
/// One tensor described in a safetensors header: its name, element type, shape and the byte range
/// [<see cref="Begin"/>, <see cref="End"/>) it occupies, relative to the start of the data buffer (which follows
/// the 8-byte length prefix and the JSON header).
/// </summary>
/// <param name="Name">The tensor's key in the header.</param>
/// <param name="DType">The element type (decoded from the header's <c>dtype</c> code, e.g. <c>F32</c>).</param>
/// <param name="Shape">The sizes, outermost first; empty for a 0-dim scalar.</param>
/// <param name="Begin">First byte of the tensor in the data buffer.</param>
/// <param name="End">One past the last byte; <c>End − Begin = NumEl × element size</c>.</param>
public sealed record SafeTensorsEntry(string Name, ScalarType DType, long[] Shape, long Begin, long End)
{
    /// <summary>Bytes the tensor occupies in the file.</summary>
    public long ByteLength => End - Begin;

    /// <summary>Number of elements (1 for a 0-dim scalar, 0 when any dim is 0).</summary>
    public long NumEl
    {
        get
        {
            long n = 1;
            foreach (long d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>The safetensors code of <see cref="DType"/> (<c>F32</c>, <c>BF16</c>, <c>BOOL</c>, …).</summary>
    public string DTypeCode => SafeTensorsDTypes.Code(DType);
}

/// <summary>The mapping between TorchSharp dtypes and safetensors dtype codes.</summary>
public static class SafeTensorsDTypes
{
    /// <summary>The safetensors code for <paramref name="dtype"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The dtype has no safetensors code.</exception>
    public static string Code(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 => "F64",
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "this dtype has no safetensors code"),
    };

    /// <summary>The dtype for a safetensors code, or false for a code CanKit does not know or support.</summary>
    public static bool TryParse(string code, out ScalarType dtype)
    {
        switch (code)
        {
            case "F64": dtype = ScalarType.Float64; return true;
            case "F32": dtype = ScalarType.Float32; return true;
            case "F16": dtype = ScalarType.Float16; return true;
            case "BF16": dtype = ScalarType.BFloat16; return true;
            case "I64": dtype = ScalarType.Int64; return true;
            case "I32": dtype = ScalarType.Int32; return true;
            case "I16": dtype = ScalarType.Int16; return true;
            case "I8": dtype = ScalarType.Int8; return true;
            case "U8": dtype = ScalarType.Byte; return true;
            case "BOOL": dtype = ScalarType.Bool; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>Bytes per element of a dtype that has a safetensors code.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The dtype has no safetensors code.</exception>
    public static int ElementSize(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        ScalarType.Int8 or ScalarType.Byte or ScalarType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "this dtype has no safetensors code"),
    };

    // The official writer orders tensors by its Dtype enum, declared "in increasing alignment order" (BOOL, U8,
    // I8, I16, F16, BF16, I32, F32, F64, I64 for the dtypes here), descending. Sorting by the same rank makes our
    // files byte-identical to safetensors.torch.save_file's for the same tensors.
    internal static int WriterRank(ScalarType dtype) => dtype switch
    {
        ScalarType.Bool => 0,
        ScalarType.Byte => 1,
        ScalarType.Int8 => 2,
        ScalarType.Int16 => 3,
        ScalarType.Float16 => 4,
        ScalarType.BFloat16 => 5,
        ScalarType.Int32 => 6,
        ScalarType.Float32 => 7,
        ScalarType.Float64 => 8,
        ScalarType.Int64 => 9,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "this dtype has no safetensors code"),
    };

    // Codes the format defines that TorchSharp has no dtype for (or that CanKit does not read); named in the error so the user knows the file
    // is well-formed but unsupported here.
    internal static bool IsKnownUnsupported(string code) =>
        code is "U16" or "U32" or "U64" or "F8_E4M3" or "F8_E5M2" or "F8_E8M0" or "F4" or "F6_E2M3" or "F6_E3M2"
            or "C64" or "C128";
}
