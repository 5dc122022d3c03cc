#!/usr/bin/env bash
# The real .NET Interactive kernel the course runs on (VS Code Polyglot Notebooks and Jupyter use the same one):
# the pinned `Microsoft.dotnet-interactive` global tool and its `.net-csharp` Jupyter kernelspec. Quick when both are
# there. Needs the .NET SDK and Debian's jupyter-core (`jupyter` on PATH, for `dotnet interactive jupyter install`).
set -euo pipefail
version=1.0.712001
export PATH="$HOME/.dotnet/tools:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
have=$(dotnet tool list -g | awk 'tolower($1) == "microsoft.dotnet-interactive" { print $2 }')
if [[ "$have" != "$version" ]]; then
  echo "cankit: installing the dotnet-interactive tool $version${have:+ (replacing $have)}"
  if [[ -n "$have" ]]; then dotnet tool update -g Microsoft.dotnet-interactive --version "$version" >/dev/null
  else dotnet tool install -g Microsoft.dotnet-interactive --version "$version" >/dev/null; fi
fi
data="${JUPYTER_DATA_DIR:-$HOME/.local/share/jupyter}"
if [[ ! -f "$data/kernels/.net-csharp/kernel.json" ]]; then
  command -v jupyter >/dev/null || { echo "cankit: 'jupyter' is not on PATH: install Debian's jupyter-core (tools/install-deps.sh does)" >&2; exit 1; }
  echo "cankit: registering the .net-csharp Jupyter kernel"
  mkdir -p "$data/kernels"          # `dotnet interactive jupyter install` fails when the folder does not exist
  dotnet interactive jupyter install >/dev/null
fi
