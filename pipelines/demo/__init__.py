"""A deterministic demo portfolio of three French SME clients, with known injected effects.

- `menuiseries-rhone`: monthly workbooks, one sheet per site, staggered go-lives, strong seasons.
- `logistique-durand`: weekly long-format CSV exports in cp1252, two treated and two control sites.
- `helios-services`: an English finance pack, KPIs as rows and months as columns.

`write_demo(home, as_of)` writes them into a workspace; `DEMO_EFFECTS` says what was injected.
"""

from pipelines.demo.build import demo_files, write_demo
from pipelines.demo.effects import DEMO_EFFECTS, DemoEffect, InjectedEffect

__all__ = ["DEMO_EFFECTS", "DemoEffect", "InjectedEffect", "demo_files", "write_demo"]
