#!/bin/sh
# Re-record discovery/src/linux/testdata/debian12-local.out: the collection script run on this
# machine (as the calling user, normally root). Processes of the sandbox's own tooling carry
# their environment in argv; they are removed from the `ps` section before saving.
set -eu
REPO="$(cd "$(dirname "$0")/../../.." && pwd -P)"
S="$(sed -n '/^pub const COLLECT_SCRIPT: &str = r#"/,/^"#;/p' "$REPO/discovery/src/linux/script.rs" | sed '1s/.*r#"//; $d')"
sh -c "$S" | python3 -c '
import sys, re
out = []; sec = None
for line in sys.stdin.buffer.read().decode("utf-8", "replace").split("\n"):
    m = re.match(r"@@CMDB@@ (BEGIN|END) (\S+)", line)
    if m:
        sec = m.group(2) if m.group(1) == "BEGIN" else None
    elif sec == "ps" and re.search(r"line_io_tools|process_api|binary_backend|cmdb-collect|\{\"|cargo|rustc|python|pip|ansible|sshtest", line):
        continue
    out.append(line)
sys.stdout.write("# cmdb-collect recording: this Debian 12 machine (local transport), sandbox tooling removed from ps\n" + "\n".join(out))
' > "$REPO/discovery/src/linux/testdata/debian12-local.out"
echo "recorded $(wc -c < "$REPO/discovery/src/linux/testdata/debian12-local.out") bytes"
