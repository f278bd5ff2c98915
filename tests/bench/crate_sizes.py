#!/usr/bin/env python3
"""Where the bytes of a linked program go, per crate (tests/bench/size.sh crates).

    crate_sizes.py <nm> <unstripped program> <readelf>

Sums the sizes of the defined symbols of each crate (the first `name::` of the demangled
symbol; generic code is counted where it was instantiated from, e.g. `core::ptr::drop_in_place
<rustls::...>` under core); ring's C and assembly (`ring_core_*`), the C ABI (`iothttp_*`) and
symbol-less bytes (string constants, the root certificates, unwind tables) are shown apart,
with the loadable section sizes for comparison. Prints a Markdown table.
"""
import collections
import re
import subprocess
import sys

nm, program, readelf = sys.argv[1:4]
out = subprocess.run([nm, "-S", "--size-sort", "-C", program], capture_output=True, text=True, check=True).stdout
crates = collections.Counter()
total = 0
for line in out.splitlines():
    parts = line.split(" ", 3)
    if len(parts) < 4:
        continue
    size, name = int(parts[1], 16), parts[3]
    if name.startswith("ring_core"):
        crate = "ring (C and assembly)"
    elif name.startswith("iothttp_"):
        crate = "iothttp (C ABI functions)"
    else:
        m = re.search(r"([a-z_][a-z0-9_]*)::", name)
        crate = m.group(1) if m else "C runtime and unnamed symbols"
    crates[crate] += size
    total += size

sections = subprocess.run([readelf, "-S", "-W", program], capture_output=True, text=True, check=True).stdout
loaded = 0
shown = {}
for line in sections.splitlines():
    m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+\S+\s+\S+\s+([0-9a-f]+)\s+\S+\s+(\S*A\S*)", line)
    if m:
        loaded += int(m.group(2), 16)
        if m.group(1) in (".text", ".rodata", ".ARM.extab", ".ARM.exidx", ".eh_frame", ".eh_frame_hdr", ".gcc_except_table", ".data.rel.ro"):
            shown[m.group(1)] = int(m.group(2), 16)

print("| crate | bytes |")
print("|---|---|")
for crate, size in crates.most_common():
    if size >= 2000:
        print(f"| {crate} | {size:,} |")
rest = sum(s for c, s in crates.items() if s < 2000)
print(f"| (crates under 2 kB) | {rest:,} |")
print(f"| **all symbols** | **{total:,}** |")
print(f"| bytes in loaded sections without a symbol (constants, tables) | {loaded - total:,} |")
print()
print("Loaded sections: " + ", ".join(f"{k} {v:,}" for k, v in shown.items()) + f"; all loaded {loaded:,}")
