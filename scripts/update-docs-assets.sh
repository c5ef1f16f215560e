#!/usr/bin/env bash
# Fetches the Swagger UI and ReDoc assets that /docs and /redoc serve from the package (no CDN), with
# their licence files, into src/leitplanke/service/static/, and records versions and digests in
# assets.json there (read by leitplanke.service.apidocs). Run by hand to upgrade; needs npm.
# Usage: scripts/update-docs-assets.sh [SWAGGER_UI_VERSION] [REDOC_VERSION]
set -euo pipefail

# ReDoc stays on 2.x: FastAPI's page is written for it, and 3.x sends usage data unless told not to
swagger_ui=${1:-5.36.0}
redoc=${2:-2.5.4}
root="$(cd "$(dirname "$0")/.." && pwd)"
static="$root/src/leitplanke/service/static"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fetch() {  # package version folder files... (copied flat into static/folder)
  local package=$1 version=$2 folder=$3
  shift 3
  (cd "$work" && npm pack --silent "$package@$version" >/dev/null)
  mkdir -p "$work/$package" && tar -xzf "$work/$package-$version.tgz" -C "$work/$package"
  rm -rf "${static:?}/$folder" && mkdir -p "$static/$folder"
  for file in "$@"; do
    cp "$work/$package/package/$file" "$static/$folder/$(basename "$file")"
  done
  npm view "$package@$version" dist.integrity >"$work/$package.integrity"
}

fetch swagger-ui-dist "$swagger_ui" swagger-ui \
  swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt
fetch redoc "$redoc" redoc \
  bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt LICENSE

python3 - "$static" "$work" "$swagger_ui" "$redoc" <<'PY'
import hashlib, json, pathlib, sys

static, work, swagger_ui, redoc = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), *sys.argv[3:]
packages = {"swagger-ui": ("swagger-ui-dist", swagger_ui, "Apache-2.0"), "redoc": ("redoc", redoc, "MIT")}
manifest = {}
for folder, (package, version, licence) in packages.items():
    files = {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((static / folder).iterdir())
    }
    manifest[folder] = {
        "package": package,
        "version": version,
        "license": licence,
        "integrity": (work / f"{package}.integrity").read_text().strip(),
        "files": files,
    }
(static / "assets.json").write_text(json.dumps(manifest, indent=2) + "\n")
PY
echo "docs assets: swagger-ui-dist $swagger_ui, redoc $redoc in $static"
