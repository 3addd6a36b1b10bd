#!/usr/bin/env bash
# Install hakit as a user would (a wheel, a pipx-style tool install, core only), then check that the
# core commands run without the Pulumi SDK and that the cloud commands say which extra they need.
# Versions come from uv.lock; the interpreter is the one `make venv` used.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-$(command -v uv || echo "$PWD/.tools/bin/uv")}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$UV" build --quiet --wheel -o "$work/dist"
"$UV" export --quiet --frozen --no-dev --all-extras --no-hashes --no-emit-project -o "$work/constraints.txt"
export UV_TOOL_DIR="$work/tools" UV_TOOL_BIN_DIR="$work/bin"
"$UV" tool install --quiet --python "$PWD/.venv/bin/python" -c "$work/constraints.txt" "$work"/dist/hakit-*.whl
hakit="$work/bin/hakit"
python="$work/tools/hakit/bin/python"

"$hakit" --version
"$hakit" render examples/inventory.yaml -o "$work/out" --validate=no >/dev/null
test -s "$work/out/lb1/etc/haproxy/haproxy.cfg"
"$hakit" backup list --help >/dev/null
for module in pulumi pulumi_aws ansible; do
    if "$python" -c "import $module" 2>/dev/null; then
        echo "check-install: the core install pulls in $module" >&2
        exit 1
    fi
done
set +e
message=$("$hakit" plan --stack dev 2>&1 >/dev/null)
code=$?
set -e
if [[ $code -ne 2 || $message != *"hakit[cloud]"* ]]; then
    echo "check-install: 'hakit plan' without the cloud extra: exit $code, '$message'" >&2
    exit 1
fi

# The deploy extra: ansible-core comes along and the shipped playbook is in the installed package.
wheel=$(echo "$work"/dist/hakit-*.whl)
"$UV" tool install --quiet --python "$PWD/.venv/bin/python" --force -c "$work/constraints.txt" \
    "hakit[deploy] @ file://$wheel"
playbook=$("$python" -c "import hakit.deploy, pathlib; print(pathlib.Path(hakit.deploy.__file__).parent / 'playbook')")
test -f "$playbook/site.yml" -a -f "$playbook/library/hakit_node.py"
"$work/tools/hakit/bin/ansible-playbook" --syntax-check -i localhost, "$playbook/site.yml" >"$work/syntax.log" 2>&1 ||
    { cat "$work/syntax.log" >&2; exit 1; }
echo "check-install: wheel installed as a tool: core renders without Pulumi, plan names hakit[cloud]," \
    "hakit[deploy] brings ansible-core and a playbook that passes --syntax-check"
