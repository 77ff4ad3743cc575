"""The trame page: worklist, reviewer, the axial, coronal and sagittal views (and phase views when the case has
phase), the view controls, the CMB table, key legend; and its wiring to the controller.

The page holds no review logic: a key, a row click or a view click is sent to the server, the shared review
controller acts through ``ReviewSession``, and the page re-renders from its ``snapshot()`` plus the new frame.
"""
from __future__ import annotations

import json
from typing import Any

from dataclasses import replace

from CMBQuantLib.review.filtered import ORDERS
from CMBQuantLib.review.key_dispatch import Command
from CMBQuantLib.review.keymap import legend
from CMBQuantLib.review.view_state import OVERLAYS, SLAB_RANGE_MM, SLAB_STEP_MM, VIEW_LABELS
from CMBQuantLib.web.controller import PHASE_PREFIX, WebReviewController
from CMBQuantLib.web.keys import browser_keys

TITLE = "CMBQuant review"

# Forward only the keys the keymap binds, never while typing in a field; stop the browser's own use of them
# (Space scrolls, Ctrl+Z undoes text). Vue template expressions cannot reach `window`, hence a global script.
KEY_SCRIPT = """(function () {
  if (window.__cmbquantKeys) { return; }
  window.__cmbquantKeys = true;
  const KEYS = %s;
  window.addEventListener('keydown', function (e) {
    const t = e.target;  // typing in a field (the reviewer name) is not a review key; a checkbox or a
    // select (slab, order: read-only inputs) keeps the keys working
    const choice = t && t.tagName === 'INPUT' && (t.readOnly || ['checkbox', 'radio', 'button'].includes(t.type));
    if (t && !choice && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT'
        || t.isContentEditable)) {
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
  // Window/level by dragging a view (sent once, on release, as fractions of the view's size); the click that
  // ends a drag is swallowed so an armed add-missed never fires on it.
  let drag = null, dragged = false;
  window.addEventListener('mousedown', function (e) {
    const t = e.target;
    if (e.button === 0 && t && t.classList && t.classList.contains('cmb-img')) {
      drag = { x: e.clientX, y: e.clientY, w: t.clientWidth, h: t.clientHeight, view: t.dataset.view };
      e.preventDefault();
    }
  });
  window.addEventListener('mouseup', function (e) {
    if (!drag) { return; }
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 4 && window.trame) {
      dragged = true;
      window.trame.trigger('view_drag', [dx / drag.w, dy / drag.h, drag.view]);
    }
    drag = null;
  });
  window.addEventListener('click', function (e) {
    if (dragged) { dragged = false; e.stopPropagation(); e.preventDefault(); }
  }, true);
  // After picking from a menu (slab, order, case) give the keys back to the review: the field loses the focus.
  document.addEventListener('click', function (e) {
    if (e.target && e.target.closest && e.target.closest('.v-overlay .v-list-item')) {
      setTimeout(function () { if (document.activeElement) { document.activeElement.blur(); } }, 0);
    }
  }, true);
  // Keep the current CMB's row in view of the table's scroll box.
  let shown = null;
  setInterval(function () {
    const img = document.querySelector('#cmb-view');
    const id = img && img.dataset.cmb;
    if (!id || id === shown) { return; }
    const row = document.getElementById('cmb-row-' + id);
    if (row) { row.scrollIntoView({ block: 'nearest' }); shown = id; }
  }, 150);
})();
"""

TABLE_COLUMNS = (("cmb_id", "CMB"), ("status", "Status"), ("score", "p(CMB) / conf."), ("diameter", "Diam. (mm)"),
                 ("region", "Region"), ("flags", "Flags"))
SLAB_CHOICES = [float(t) for t in range(int(SLAB_RANGE_MM[0]), int(SLAB_RANGE_MM[1]) + 1, int(SLAB_STEP_MM))]
IMG_STYLE = "display: block; background: #000; cursor: crosshair;"


def _view_img(src: str, view: str, size: tuple[int, int], element_id: str, label: str,
              extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Attributes of one view <img> (``src``, ``view``, ``label``: JS expressions): click (add missed), wheel (slices;
    ctrl: zoom), drag (window/level, in ``KEY_SCRIPT``)."""
    return {"draggable": "false", "style": f"width: {size[0]}px; height: {size[1]}px; {IMG_STYLE}",
            "classes": "cmb-img", "raw_attrs": [
                element_id, *extra, f':src="{src}"', f':data-view="{view}"', f':title="{label}"', f':alt="{label}"',
                (f'@click="trigger(\'view_click\', [$event.offsetX, $event.offsetY, $event.target.clientWidth, '
                 f'$event.target.clientHeight, {view}])"'),
                f'@wheel.prevent="trigger(\'view_wheel\', [Math.sign($event.deltaY), {view}, $event.ctrlKey])"']}


class ReviewPage:
    """Binds one ``WebReviewController`` to a trame server's state, triggers and UI."""

    def __init__(self, server: Any, controller: WebReviewController):
        self.server = server
        self.state = server.state
        self.controller = controller
        for name, fn in (("cmb_key", self.on_key), ("select", self.on_select), ("view_click", self.on_click),
                         ("view_wheel", self.on_wheel), ("view_drag", self.on_drag), ("set_reviewer", self.on_reviewer),
                         ("toggle_filtered", self.on_toggle_filtered), ("zoom", self.on_zoom),
                         ("open_case", self.on_case)):
            server.trigger(name)(fn)
        self.state.update({"side_views": [], "phase_views": [], "add_mode": False, "frame": 0, "frame_cmb": None,
                           "reviewer_input": controller.reviewer, "view_src": "", "legend": legend(),
                           "show_filtered": False, "filtered_hint": "", "overlay": "outline", "minip": False,
                           "slab_mm": 8.0, "order": controller.order})
        self.state.change("case_id")(self.on_case)
        self.state.change("add_mode")(self.on_add_mode)
        self.state.change("overlay", "minip", "slab_mm")(self.on_view_options)
        self.state.change("order")(self.on_order)
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
        phase = [{"name": PHASE_PREFIX + n, "label": "phase " + VIEW_LABELS.get(n, n), "src": src}
                 for n, src in frame.phase.items()]
        view = snap["view"]
        self.state.update({**snap, "view_src": frame.data_url, "frame": frame.number, "frame_cmb": frame.cmb_id,
                           "side_views": side, "phase_views": phase, "add_mode": snap["add_armed"],
                           "overlay": view["overlay"], "minip": view["minip"], "slab_mm": view["slab_mm"],
                           "fov_text": f"{view['fov_mm']:.0f} mm", "case_list": snap["cases"]})

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

    def on_wheel(self, direction: int, view: str | None = None, ctrl: bool = False) -> None:
        """Plain wheel: step the slice (as in Slicer); Ctrl+wheel (and a touchpad pinch): zoom."""
        if ctrl:
            self.controller.zoom(int(direction))
        else:
            self.controller.scroll(int(direction), view)
        self.publish()

    def on_drag(self, dx: float, dy: float, view: str | None = None) -> None:
        self.controller.drag_window(float(dx), float(dy))
        self.publish()

    def on_zoom(self, steps: int) -> None:
        self.controller.zoom(int(steps))
        self.publish()

    def on_view_options(self, overlay: str = "outline", minip: bool = False, slab_mm: float = 8.0, **_: Any) -> None:
        """The overlay choice, the minIP switch and the slab thickness: the same view state the keys change."""
        view = self.controller.view
        wanted = replace(view, overlay=str(overlay), minip=bool(minip)).with_slab(float(slab_mm))
        if wanted != view and overlay in OVERLAYS:
            self.controller.set_view(wanted)
            self.publish()

    def on_order(self, order: str = "confidence", **_: Any) -> None:
        if order in ORDERS and order != self.controller.order:
            self.controller.set_order(order)
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

        size = self.controller.viewport.size
        side = next(iter(self.controller.side_views.values())).size if self.controller.side_views else (256, 256)
        phase = self.controller.phase_size
        with SinglePageLayout(self.server, full_height=True) as layout:
            layout.title.set_text(TITLE)
            layout.footer.hide()  # the "powered by" bar would cover the key legend
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
                        self._view_controls(html, v3)
                        with html.Div(classes="d-flex", style="gap: 2px"):
                            html.Img(**_view_img("view_src", "'Red'", size, 'id="cmb-view"', "'axial'",
                                                 (':data-frame="frame"', ':data-cmb="frame_cmb"')))
                            with html.Div(classes="d-flex flex-column", style="gap: 2px", v_if="side_views.length"):
                                html.Img(v_for="v in side_views", key="v.name",
                                         **_view_img("v.src", "v.name", side, ':id="\'cmb-view-\' + v.name"',
                                                     "v.label", (':data-frame="frame"',)))
                        html.Div("Phase (axial, coronal, sagittal), linked to the views above",
                                 classes="text-caption mt-1", v_if="phase_views.length")
                        with html.Div(classes="d-flex", style="gap: 2px", v_if="phase_views.length",
                                      id="phase-row"):
                            html.Img(v_for="v in phase_views", key="v.name",
                                     **_view_img("v.src", "v.name", phase, ':id="\'cmb-view-\' + v.name"',
                                                 "v.label", (':data-frame="frame"',)))
                        with html.Div(classes="d-flex align-center mt-2", style="gap: 8px"):
                            v3.VBtn("Add missed CMB: click it", id="add-mode", size="small",
                                    color=("add_mode ? 'primary' : undefined",),
                                    click="add_mode = !add_mode")
                            html.Span("Current: CMB {{ current_id }}", id="current")
                        html.Div("{{ message }}", id="message", classes="mt-2 text-body-2",
                                 style=f"max-width: {size[0] + side[0]}px; min-height: 1.5em")
                        legend_style = f"list-style: none; padding: 0; columns: 2; max-width: {size[0] + side[0]}px"
                        with html.Ul(classes="mt-2 text-caption", id="legend", style=legend_style):
                            html.Li("{{ line }}", v_for="line in legend", key="line")
                    with html.Div():
                        self._case_list(html)
                        self._table(html, v3)
        self.layout = layout

    def _view_controls(self, html: Any, v3: Any) -> None:
        with html.Div(classes="d-flex align-center mb-1", style="gap: 8px"):
            with v3.VBtnToggle(v_model=("overlay",), mandatory=True, density="compact", divided=True,
                               id="overlay"):
                for mode in OVERLAYS:
                    v3.VBtn(mode, value=mode, size="small", id=f"overlay-{mode}")
            v3.VCheckbox(v_model=("minip",), label="minIP (M)", density="compact", hide_details=True, id="minip",
                         style="flex: none")
            v3.VSelect(v_model=("slab_mm",), items=("slab_choices", SLAB_CHOICES), label="slab (mm)",
                       density="compact", hide_details=True, style="max-width: 130px", id="slab")
            v3.VBtn("-", size="small", id="zoom-out", click="trigger('zoom', [1])")
            html.Span("{{ fov_text }}", id="fov", classes="text-caption")
            v3.VBtn("+", size="small", id="zoom-in", click="trigger('zoom', [-1])")

    def _case_list(self, html: Any) -> None:
        with html.Div(classes="text-caption mb-2", id="case-list"):
            html.Div("Cases", classes="font-weight-bold")
            html.Div("{{ c.title }}", v_for="c in case_list", key="c.value",
                     raw_attrs=[':id="\'case-\' + c.value"', '@click="trigger(\'open_case\', [c.value])"',
                                ':class="{ \'bg-blue-lighten-4\': c.value === case_id }"'],
                     style="cursor: pointer; padding: 0 4px")

    def _table(self, html: Any, v3: Any) -> None:
        with html.Div(classes="d-flex align-center mb-1", style="gap: 8px"):
            v3.VBtn("{{ show_filtered ? 'Hide' : 'Show' }} filter-rejected (H)", id="toggle-filtered",
                    size="small", click="trigger('toggle_filtered')")
            v3.VSelect(v_model=("order",), items=("orders", list(ORDERS)), label="Order", density="compact",
                       hide_details=True, style="max-width: 150px", id="order")
        html.Div("{{ filtered_hint }}", id="filtered-hint", classes="text-caption")
        with v3.VTable(density="compact", id="cmb-table", style="min-width: 480px", height="560px",
                       fixed_header=True):
            with html.Thead():
                with html.Tr():
                    for _, title in TABLE_COLUMNS:
                        html.Th(title)
            with html.Tbody():
                with html.Tr(v_for="row in rows", key="row.cmb_id",
                             raw_attrs=[':id="\'cmb-row-\' + row.cmb_id"', ':data-status="row.status"',
                                        ':data-filtered="row.filtered"',
                                        ':data-current="row.cmb_id === current_id"',
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
                    html.Td("{{ row.score }}")
                    html.Td("{{ row.diameter }}")
                    html.Td("{{ row.region }}{{ row.lobe ? ' / ' + row.lobe : '' }}")
                    html.Td("{{ row.flags }}", classes="text-caption")
