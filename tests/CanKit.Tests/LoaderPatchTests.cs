using CanKit.Engine;
using Xunit;

namespace CanKit.Tests;

/// <summary>The ELF reading, the decision and the one-flag patch, on synthetic images and on a copy of the real
/// libLibTorchSharp.so, against fake systems that provide GLIBCXX up to 3.4.30 or up to 3.4.32.</summary>
public class LoaderPatchTests
{
    const string InitSymbol = "_ZSt21ios_base_library_initv";

    [Fact]
    public void Synthetic_image_parses_to_what_was_written()
    {
        var img = LoaderSyntheticElf.Build(["GLIBCXX_3.4", "GLIBCXX_3.4.32"],
            [new("_Znwm", "GLIBCXX_3.4", Relocated: true), new(InitSymbol, "GLIBCXX_3.4.32")]);
        var elf = ElfImage.Parse(img.Bytes, "synthetic.so");

        Assert.Equal(["GLIBCXX_3.4", "GLIBCXX_3.4.32"], elf.Needs.Select(n => n.Version));
        Assert.All(elf.Needs, n => Assert.Equal("libstdc++.so.6", n.File));
        Assert.Equal([(ushort)2, (ushort)3], elf.Needs.Select(n => n.Index));
        Assert.Equal(img.FlagOffsets["GLIBCXX_3.4.32"], elf.Needs[1].FlagsOffset);
        Assert.Equal(["", "_Znwm", InitSymbol], elf.Symbols.Select(s => s.Name));
        Assert.Equal([(ushort)0, (ushort)2, (ushort)3], elf.Symbols.Select(s => s.VersionIndex));
        Assert.Equal([1], elf.RelocatedSymbols);
    }

    [Fact]
    public void Synthetic_patch_sets_the_weak_flag_on_exactly_the_missing_entry()
    {
        var img = LoaderSyntheticElf.Build(["GLIBCXX_3.4", "GLIBCXX_3.4.30", "GLIBCXX_3.4.32"],
            [new("_Znwm", "GLIBCXX_3.4"), new(InitSymbol, "GLIBCXX_3.4.32"), new("_ZNSt3pmr19new_delete_resourceEv", "GLIBCXX_3.4.30")]);
        var plan = WeakVersionPatch.Decide(ElfImage.Parse(img.Bytes, "synthetic.so"), "synthetic.so", FakeSystem.UpTo(30));
        var patched = WeakVersionPatch.Apply(img.Bytes, plan);

        Assert.Equal("GLIBCXX_3.4.32", Assert.Single(plan.Missing).Version);
        // One byte differs: the low byte of that entry's vna_flags (little-endian), 0 → VER_FLG_WEAK.
        var diffs = Enumerable.Range(0, img.Bytes.Length).Where(i => img.Bytes[i] != patched[i]).ToList();
        Assert.Equal([(int)img.FlagOffsets["GLIBCXX_3.4.32"]], diffs);
        Assert.Equal(WeakVersionPatch.VerFlgWeak, patched[diffs[0]]);
        Assert.True(WeakVersionPatch.IsPatchOf(img.Bytes, patched, plan));

        // The patched image needs nothing more from the same system: the weak need no longer counts.
        var again = ElfImage.Parse(patched, "patched.so");
        Assert.Equal([(ushort)0, (ushort)0, WeakVersionPatch.VerFlgWeak], again.Needs.Select(n => n.Flags));
        Assert.True(WeakVersionPatch.Decide(again, "patched.so", FakeSystem.UpTo(30)).NothingToDo);
    }

    [Fact]
    public void A_real_symbol_on_a_missing_version_is_refused_with_the_file_named()
    {
        var img = LoaderSyntheticElf.Build(["GLIBCXX_3.4", "GLIBCXX_3.4.32"],
            [new(InitSymbol, "GLIBCXX_3.4.32"), new("_ZSt7printlnSt17basic_string_viewIcSt11char_traitsIcEE", "GLIBCXX_3.4.32")]);
        var e = Assert.Throws<NotSupportedException>(() =>
            WeakVersionPatch.Decide(ElfImage.Parse(img.Bytes, "/some/dir/libX.so"), "/some/dir/libX.so", FakeSystem.UpTo(30)));
        Assert.Contains("/some/dir/libX.so", e.Message);
        Assert.Contains("GLIBCXX_3.4.32", e.Message);
        Assert.Contains("_ZSt7println", e.Message);
    }

    [Fact]
    public void The_init_symbol_is_refused_when_a_relocation_uses_it()
    {
        var img = LoaderSyntheticElf.Build(["GLIBCXX_3.4.32"], [new(InitSymbol, "GLIBCXX_3.4.32", Relocated: true)]);
        var e = Assert.Throws<NotSupportedException>(() =>
            WeakVersionPatch.Decide(ElfImage.Parse(img.Bytes, "libY.so"), "libY.so", FakeSystem.UpTo(30)));
        Assert.Contains(InitSymbol, e.Message);
    }

    [Fact]
    public void Nothing_is_planned_when_the_system_provides_the_version()
    {
        var img = LoaderSyntheticElf.Build(["GLIBCXX_3.4", "GLIBCXX_3.4.32"], [new(InitSymbol, "GLIBCXX_3.4.32")]);
        var plan = WeakVersionPatch.Decide(ElfImage.Parse(img.Bytes, "synthetic.so"), "synthetic.so", FakeSystem.UpTo(32));
        Assert.True(plan.NothingToDo);
        Assert.True(img.Bytes.AsSpan().SequenceEqual(WeakVersionPatch.Apply(img.Bytes, plan)));
    }

    [Fact]
    public void Not_an_elf_file_is_an_error_naming_it()
    {
        var e = Assert.Throws<InvalidDataException>(() => ElfImage.Parse("#!/bin/sh\n"u8.ToArray(), "/tmp/script.so"));
        Assert.Contains("/tmp/script.so", e.Message);
    }

    [Fact]
    public void Real_library_against_a_system_up_to_3_4_30_gets_exactly_one_byte_changed()
    {
        var original = File.ReadAllBytes(LoaderFiles.RealLibrary());
        var elf = ElfImage.Parse(original, "libLibTorchSharp.so");
        var plan = WeakVersionPatch.Decide(elf, "libLibTorchSharp.so", FakeSystem.UpTo(30));

        var need = Assert.Single(plan.Missing);
        Assert.Equal(("libstdc++.so.6", "GLIBCXX_3.4.32"), (need.File, need.Version));
        Assert.Equal([InitSymbol], elf.Symbols.Where(s => (s.VersionIndex & 0x7fff) == need.Index).Select(s => s.Name));

        var patched = WeakVersionPatch.Apply(original, plan);
        var diffs = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToList();
        Assert.Equal([(int)need.FlagsOffset], diffs);

        var after = ElfImage.Parse(patched, "patched");
        Assert.Equal(elf.Needs.Count, after.Needs.Count);
        for (int i = 0; i < elf.Needs.Count; i++)
        {
            var expectedFlags = elf.Needs[i] == need ? (ushort)(need.Flags | WeakVersionPatch.VerFlgWeak) : elf.Needs[i].Flags;
            Assert.Equal(elf.Needs[i] with { Flags = expectedFlags }, after.Needs[i]);
        }
        Assert.True(WeakVersionPatch.Decide(after, "patched", FakeSystem.UpTo(30)).NothingToDo);
    }

    [Fact]
    public void Real_library_against_a_system_up_to_3_4_32_needs_nothing()
    {
        var elf = ElfImage.Read(LoaderFiles.RealLibrary());
        Assert.True(WeakVersionPatch.Decide(elf, "libLibTorchSharp.so", FakeSystem.UpTo(32)).NothingToDo);
    }

    [Fact]
    public void Real_library_against_a_system_up_to_3_4_28_is_refused()
    {
        var path = LoaderFiles.RealLibrary();
        var e = Assert.Throws<NotSupportedException>(() => WeakVersionPatch.Decide(ElfImage.Read(path), path, FakeSystem.UpTo(28)));
        Assert.Contains(path, e.Message);
        Assert.Contains("GLIBCXX_3.4.30", e.Message);
        Assert.Contains("GLIBCXX_3.4.29", e.Message);
    }

    [Fact]
    public void This_process_libstdcxx_is_read_from_the_loaded_file()
    {
        var path = SystemLibraries.Locate("libstdc++.so.6");
        Assert.NotNull(path);
        Assert.Equal("libstdc++.so.6", ElfImage.Read(path!).SoName);
        var versions = SystemLibraries.ProvidedVersions("libstdc++.so.6")!;
        Assert.Contains("GLIBCXX_3.4", versions);
        Assert.Contains("CXXABI_1.3", versions);
        // libstdc++'s versions are cumulative (each GCC release adds the next one), so a correct read has no gaps.
        int newest = versions.Where(v => v.StartsWith("GLIBCXX_3.4.")).Select(v => int.Parse(v["GLIBCXX_3.4.".Length..])).Max();
        Assert.True(newest >= 19, $"GLIBCXX_3.4.{newest} is older than any libstdc++ .NET supports");
        for (int j = 1; j <= newest; j++) Assert.Contains($"GLIBCXX_3.4.{j}", versions);
    }
}
