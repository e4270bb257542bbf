#!/usr/bin/env bash
# Re-vendor the front-end packages from the npm registry into app/static/.
# Usage: scripts/vendor_static.sh [govuk-frontend-version] [htmx-version]
set -euo pipefail
GOVUK_VERSION=${1:-5.14.0}
HTMX_VERSION=${2:-2.0.11}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund "govuk-frontend@$GOVUK_VERSION" "htmx.org@$HTMX_VERSION" >/dev/null
g="$root/app/static/govuk-frontend-$GOVUK_VERSION"
h="$root/app/static/htmx-$HTMX_VERSION"
rm -rf "$g" "$h"
mkdir -p "$g" "$h"
cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js "$g/"
node -e 'const p=require("./node_modules/govuk-frontend/package.json"); console.log(`govuk-frontend ${p.version}\nLicence: ${p.license} (as declared in the npm package)\nCopyright (c) Crown Copyright (Government Digital Service)\nSource: npm package govuk-frontend, ${p.homepage || ""}`)' > "$g/LICENSE.txt"
cat >> "$g/LICENSE.txt" <<'MIT'

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of
the Software, and to permit persons to whom the Software is furnished to do so,
subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS
FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
MIT
# Attest is not a GOV.UK service: drop the GDS Transport font faces (brand assets)
# so the stylesheet falls back to its system fonts and makes no font requests.
python3 - node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.css "$g/govuk-frontend.min.css" <<'PY'
import re, sys
css = open(sys.argv[1], encoding="utf-8").read()
css = re.sub(r"@font-face\{[^}]*\}", "", css)
css = re.sub(r"/\*# sourceMappingURL=[^*]*\*/", "", css)
open(sys.argv[2], "w", encoding="utf-8").write(css)
PY
cp node_modules/htmx.org/dist/htmx.min.js "$h/"
cp node_modules/htmx.org/LICENSE "$h/LICENSE"
echo "vendored govuk-frontend $GOVUK_VERSION and htmx $HTMX_VERSION into app/static/"

# axe-core for the accessibility tests only (tests/browser/test_accessibility.py): never served.
AXE_VERSION=${AXE_VERSION:-4.14.1}
npm install --no-audit --no-fund "axe-core@$AXE_VERSION" >/dev/null
a="$root/tests/browser/vendor/axe-core"
rm -rf "$a" && mkdir -p "$a"
cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE "$a/"
node -e 'const p=require("./node_modules/axe-core/package.json"); console.log(`axe-core ${p.version}, licence ${p.license}, from the npm registry; used by the tests only, never served.`)' > "$a/VERSION.txt"
