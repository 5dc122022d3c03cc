#!/usr/bin/env bash
# Packs CanKit's NuGet packages from the Release build into the local feed artifacts/feed/ (git-ignored), which the
# notebooks restore from (notebooks/NuGet.config) and `dotnet tool install --add-source artifacts/feed CanKit.Tool`
# installs from. Run after `dotnet build CanKit.sln -c Release` (./build.sh main and test do both); it does not build.
#
# Version: 0.1.0-dev.<yyyyMMddHHmmss>, the UTC time of the newest packed assembly. NuGet caches a package by id and
# version (~/.nuget/packages) and never looks at the feed again for a version it holds, so each build that changes an
# assembly must get a new version; the notebooks ask for the newest (`*-*`). A build that changed nothing leaves the
# assemblies' times, hence the version, as they were: the packages in the feed are then current and nothing is packed.
# Older builds' packages are removed from the feed.
#
# Arguments go to `dotnet pack`, e.g. `tools/pack-feed.sh -p:TorchSharpPackage=TorchSharp-cuda-linux` after a build with
# the same property (environment.md, CUDA): CanKit then depends on that package. With arguments it always packs, and
# the version is the time of packing, so that a package with other contents never reuses a version.
set -euo pipefail
cd "$(dirname "$0")/.."
feed=artifacts/feed
bin=bin/Release/net10.0
assemblies=(src/CanKit/$bin/CanKit.dll src/CanKit.Interactive/$bin/CanKit.Interactive.dll
            src/CanKit.Notebooks/$bin/CanKit.Notebooks.dll src/CanKit.Cli/$bin/CanKit.Cli.dll)
for a in "${assemblies[@]}"; do
  [[ -f "$a" ]] || { echo "cankit: $a not found: build first (dotnet build CanKit.sln -c Release)" >&2; exit 1; }
done
newest=$(ls -t "${assemblies[@]}" | head -n 1)
version="0.1.0-dev.$(date -u -r "$newest" +%Y%m%d%H%M%S)"
(( $# == 0 )) || version="0.1.0-dev.$(date -u +%Y%m%d%H%M%S)"
ids=(CanKit CanKit.Interactive CanKit.Tool)
current=1
for id in "${ids[@]}"; do [[ -f "$feed/$id.$version.nupkg" ]] || current=0; done
if (( current && $# == 0 )); then
  echo "cankit: $feed holds the packages of this build ($version)"
  exit 0
fi
mkdir -p "$feed"
for id in "${ids[@]}"; do rm -f "$feed/$id".0.*.nupkg "$feed/$id".0.*.snupkg; done
for project in src/CanKit src/CanKit.Interactive src/CanKit.Cli; do
  dotnet pack "$project" -c Release --no-build -nologo -v quiet -o "$feed" -p:PackageVersion="$version" "$@"
done
echo "cankit: packed ${ids[*]} $version into $feed"
