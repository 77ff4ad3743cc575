"""The trame page: worklist, reviewer, the axial view, the CMB table, key legend; and its wiring to the controller.

The page holds no review logic: a key, a row click or a view click is sent to the server, the shared review
controller acts through ``ReviewSession``, and the page re-renders from its ``snapshot()`` plus the new frame.
"""
from __future__ import annotations

import json
from typing import Any

from CMBQuantLib.review.key_dispatch import Command
from CMBQuantLib.review.keymap import legend
from CMBQuantLib.web.controller import WebReviewController
from CMBQuantLib.web.keys import browser_keys

TITLE = "CMBQuant review"

# Forward only the keys the keymap binds, never while typing in a field; stop the browser's own use of them
# (Space scrolls, Ctrl+Z undoes text). Vue template expressions cannot reach `window`, hence a global script.
KEY_SCRIPT = """(function () {
  if (window.__cmbquantKeys) { return; }
  window.__cmbquantKeys = true;
  const KEYS = %s;
  window.addEventListener('keydown', function (e) {
    const t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) {
      return;
    }
    const ctrl = e.ctrlKey || e.metaKey;
    const hit = KEYS.some(function (k) {
      return k.key.toLowerCase() === e.key.toLowerCase() && k.ctrlKey === ctrl && k.shiftKey === e.shiftKey
        && k.altKey === e.altKey;
    });
    if (!hit || !window.trame) { return; }
    e.preventDefault();
    window.trame.trigger('cmb_key', [e.key, ctrl, e.shiftKey, e.altKey]);
  });
})();
"""

VIEW_LABELS = {"Red": "axial", "Green": "coronal", "Yellow": "sagittal"}
TABLE_COLUMNS = (("cmb_id", "CMB"), ("status", "Status"), ("region", "Region"), ("diameter", "Diameter (mm)"),
                 ("confidence", "Confidence"), ("p_cmb", "p(CMB)"))


class ReviewPage:
    """Binds one ``WebReviewController`` to a trame server's state, triggers and UI."""

    def __init__(self, server: Any, controller: WebReviewController):
        self.server = server
        self.state = server.state
        self.controller = controller
        for name, fn in (("cmb_key", self.on_key), ("select", self.on_select), ("view_click", self.on_click),
                         ("view_wheel", self.on_wheel), ("set_reviewer", self.on_reviewer),
                         ("toggle_filtered", self.on_toggle_filtered)):
            server.trigger(name)(fn)
        self.state.update({"side_views": [], "add_mode": False, "reviewer_input": controller.reviewer, "frame": 0, "frame_cmb": None,
                           "view_src": "", "legend": legend(), "show_filtered": False, "filtered_hint": ""})
        self.state.change("case_id")(self.on_case)
        self.state.change("add_mode")(self.on_add_mode)
        first = next((c for c in controller.cases if not c.error and c.decided < c.total), None) \
            or next((c for c in controller.cases if not c.error), controller.cases[0])
        controller.open_case(first.case_id)
        self.publish()
        self.build_ui()

    # -- server -> page ----------------------------------------------------------------------------------------
    def publish(self) -> None:
        """Push the snapshot and a fresh frame; ``frame``/``frame_cmb`` tell the page (and tests) what arrived."""
        snap = self.controller.snapshot()
        frame = self.controller.render()
        side = [{"name": n, "label": VIEW_LABELS.get(n, n), "src": src} for n, src in frame.side.items()]
        self.state.update({**snap, "view_src": frame.data_url, "frame": frame.number, "frame_cmb": frame.cmb_id,
                           "side_views": side, "add_mode": snap["add_armed"]})

    # -- page -> server ----------------------------------------------------------------------------------------
    def on_key(self, key: str, ctrl: bool = False, shift: bool = False, alt: bool = False) -> None:
        self.controller.key(str(key), bool(ctrl), bool(shift), bool(alt))
        self.publish()

    def on_select(self, cmb_id: int) -> None:
        self.controller.select(int(cmb_id))
        self.publish()

    def on_add_mode(self, add_mode: bool = False, **_: Any) -> None:
        """The add-missed button (page state, toggled in the browser) arms the controller's add flow."""
        self.controller.arm_add(bool(add_mode))

    def on_click(self, x: float, y: float, width: float, height: float, view: str | None = None) -> None:
        if not self.controller.add_armed:
            return
        w, h = self.controller.view_named(view).size
        self.controller.add_at_pixel(float(x) * w / max(float(width), 1.0), float(y) * h / max(float(height), 1.0),
                                     view)
        self.publish()

    def on_toggle_filtered(self) -> None:
        """The page's button: the same toggle as the H key."""
        self.controller.run(Command("toggle_filtered"))
        self.publish()

    def on_wheel(self, direction: int, view: str | None = None) -> None:
        self.controller.scroll(int(direction), view)
        self.publish()

    def on_reviewer(self, name: str) -> None:
        self.controller.set_reviewer(str(name or ""))  # opens a case that waited for a name
        self.publish()

    def on_case(self, case_id: str | None = None, **_: Any) -> None:
        if not case_id or (case_id == self.controller.case_id and self.controller.session is not None):
            return
        self.controller.open_case(case_id)
        self.publish()

    # -- layout ------------------------------------------------------------------------------------------------
    def build_ui(self) -> None:
        from trame.ui.vuetify3 import SinglePageLayout
        from trame.widgets import client, html
        from trame.widgets import vuetify3 as v3

        w, h = self.controller.viewport.size
        with SinglePageLayout(self.server, full_height=True) as layout:
            layout.title.set_text(TITLE)
            client.Script(KEY_SCRIPT % json.dumps(browser_keys()))
            with layout.toolbar:
                v3.VSpacer()
                v3.VSelect(v_model=("case_id",), items=("cases",), label="Case", density="compact",
                           hide_details=True, style="max-width: 260px", id="case-select")
                v3.VTextField(v_model=("reviewer_input",), label="Reviewer (press Enter)", density="compact",
                              hide_details=True, style="max-width: 220px", classes="ml-2", id="reviewer",
                              raw_attrs=['@keydown.enter="trigger(\'set_reviewer\', [reviewer_input])"',
                                         '@blur="trigger(\'set_reviewer\', [reviewer_input])"'])
                v3.VChip("{{ progress }}", classes="ml-2", id="progress")
            with layout.content:
                with html.Div(classes="d-flex pa-2", style="gap: 16px"):
                    with html.Div():
                        html.Img(id="cmb-view", src=("view_src",), draggable="false",
                                 style=f"width: {w}px; height: {h}px; display: block; background: #000;"
                                       " cursor: crosshair;",
                                 raw_attrs=[':data-frame="frame"', ':data-cmb="frame_cmb"',
                                            ('@click="trigger(\'view_click\', [$event.offsetX, $event.offsetY, '
                                             '$event.target.clientWidth, $event.target.clientHeight])"'),
                                            '@wheel.prevent="trigger(\'view_wheel\', [Math.sign($event.deltaY)])"'])
                        with html.Div(classes="d-flex align-center mt-2", style="gap: 8px"):
                            v3.VBtn("Add missed CMB: click it", id="add-mode", size="small",
                                    color=("add_mode ? 'primary' : undefined",),
                                    click="add_mode = !add_mode")
                            html.Span("Current: CMB {{ current_id }}", id="current")
                        html.Div("{{ message }}", id="message", classes="mt-2 text-body-2",
                                 style=f"max-width: {w}px; min-height: 1.5em")
                        with html.Ul(classes="mt-2 text-caption", style="list-style: none; padding: 0"):
                            html.Li("{{ line }}", v_for="line in legend", key="line")
                    with html.Div(classes="d-flex flex-column", style="gap: 0px", v_if="side_views.length"):
                        html.Img(v_for="v in side_views", key="v.name", draggable="false",
                                 style="width: 256px; height: 256px; display: block; background: #000; cursor: crosshair;",
                                 raw_attrs=[':src="v.src"', ':id="\'cmb-view-\' + v.name"', ':title="v.label"', ':alt="v.label"',
                                            ('@click="trigger(\'view_click\', [$event.offsetX, $event.offsetY, '
                                             '$event.target.clientWidth, $event.target.clientHeight, v.name])"'),
                                            '@wheel.prevent="trigger(\'view_wheel\', [Math.sign($event.deltaY), v.name])"'])
                    with html.Div():
                        with html.Div(classes="d-flex align-center mb-1", style="gap: 8px"):
                            v3.VBtn("{{ show_filtered ? 'Hide' : 'Show' }} filter-rejected (H)", id="toggle-filtered",
                                    size="small", click="trigger('toggle_filtered')")
                            html.Span("{{ filtered_hint }}", id="filtered-hint", classes="text-caption")
                        with v3.VTable(density="compact", id="cmb-table", style="min-width: 520px"):
                            with html.Thead():
                                with html.Tr():
                                    for _, title in TABLE_COLUMNS:
                                        html.Th(title)
                            with html.Tbody():
                                with html.Tr(v_for="row in rows", key="row.cmb_id",
                                             raw_attrs=[':id="\'cmb-row-\' + row.cmb_id"',
                                                        ':data-status="row.status"',
                                                        ':data-filtered="row.filtered"',
                                                        ':style="{ opacity: row.filtered ? 0.6 : 1 }"',
                                                        ':class="{ \'bg-blue-lighten-4\': row.cmb_id === current_id }"',
                                                        '@click="trigger(\'select\', [row.cmb_id])"'],
                                             style="cursor: pointer"):
                                    html.Td("{{ row.cmb_id }}{{ row.added ? ' +' : '' }}")
                                    with html.Td(style="white-space: nowrap"):
                                        html.Span(raw_attrs=[(':style="{ display: \'inline-block\', width: \'10px\', '
                                                              'height: \'10px\', background: row.colour, '
                                                              'marginRight: \'6px\' }"')])
                                        html.Span("{{ row.status }}{{ row.reason ? ' (' + row.reason + ')' : '' }}")
                                    html.Td("{{ row.region }}{{ row.lobe ? ' / ' + row.lobe : '' }}")
                                    html.Td("{{ row.diameter }}")
                                    html.Td("{{ row.confidence }}")
                                    html.Td("{{ row.p_cmb }}")
        self.layout = layout
