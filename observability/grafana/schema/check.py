"""Check the generated dashboards against Grafana's own dashboard schema (``@grafana/schema``).

``@grafana/schema`` (npm, maintained by Grafana, generated from the CUE kinds Grafana validates
with) ships the dashboard and panel-options schema as TypeScript types. This script writes one
TypeScript file typing each dashboard as ``Dashboard`` and each panel as
``Panel<Options, FieldConfig>`` of its panel plugin, and runs the TypeScript compiler
(``tsc --noEmit --strict``): an unknown field, a wrong type or a missing required field is a
compile error naming the file and line. Two adaptations, both of JSON vs TypeScript, not of the
schema: string enums accept their string values (as JSON carries them), and a data query's
plugin fields are open (CUE's ``...``; the TypeScript base type lists only the common ones).

    cd observability/grafana/schema && npm ci && cd - && python observability/grafana/schema/check.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DASHBOARDS = HERE.parent / "dashboards"
TSC = HERE / "node_modules" / ".bin" / "tsc"
X = "@grafana/schema/dist/types/raw"
PANELS = {  # panel type -> (module of its options schema, it has a custom field config)
    "timeseries": ("timeseries", True),
    "state-timeline": ("statetimeline", True),
    "heatmap": ("heatmap", True),
    "bargauge": ("bargauge", False),
}

HEADER = f"""\
import type {{ AnnotationQuery, Dashboard, DataQuery, Panel }} from "@grafana/schema";
{chr(10).join(f'import type * as {m} from "{X}/composable/{m}/panelcfg/x/types.gen";' for m, _ in sorted(PANELS.values()))}

// JSON carries a string enum's value; the TypeScript enum type would refuse the literal
type Json<T> = T extends string ? `${{T}}` : T extends (infer U)[] ? Json<U>[]
  : T extends object ? {{ [K in keyof T]: Json<T[K]> }} : T;
// a query's plugin fields (expr, legendFormat, ...) are open, as in the CUE schema
type Query = DataQuery & Record<string, unknown>;
type Board = Omit<Dashboard, "annotations" | "panels"> & {{
  annotations?: {{ list?: Array<AnnotationQuery<Query>> }};
  panels?: unknown[];
}};
// a panel with the options and field config of its plugin
type Typed<O, F> = Omit<Panel<O, F>, "options"> & {{ options?: O }};
"""


def source(dashboards: dict[str, dict[str, object]]) -> str:
    out = [HEADER]
    for name, doc in sorted(dashboards.items()):
        ident = name.replace("-", "_")
        out.append(f"export const {ident}: Json<Board> = {json.dumps(doc, indent=1)};")
        panels = doc.get("panels", [])
        assert isinstance(panels, list)
        for i, panel in enumerate(panels):
            found = PANELS.get(str(panel.get("type")))
            if found is None:
                raise SystemExit(f"{name}: panel {i} has type {panel.get('type')!r}: no schema")
            kind, custom = found
            field = f"{kind}.FieldConfig" if custom else "Record<string, unknown>"
            t = f"Json<Typed<{kind}.Options, {field}>>"
            out.append(f"export const {ident}_panel{i}: {t} = {json.dumps(panel, indent=1)};")
    return "\n".join(out) + "\n"


def check(
    dashboards: dict[str, dict[str, object]], workdir: Path
) -> subprocess.CompletedProcess[str]:
    ts = workdir / "dashboards_check.ts"
    ts.write_text(source(dashboards))
    return subprocess.run(
        [str(TSC), "--noEmit", "--strict", "--target", "es2022", "--moduleResolution", "node",
         "--baseUrl", str(HERE / "node_modules"), str(ts)],
        capture_output=True, text=True, check=False, cwd=HERE,
    )  # fmt: skip


def load() -> dict[str, dict[str, object]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        proc = check(load(), Path(tmp))
    print(proc.stdout + proc.stderr or "all dashboards match @grafana/schema")
    sys.exit(proc.returncode)
