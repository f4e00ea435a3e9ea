// dcgan dashboard: the wiring. Commands and past runs go through the REST API; the live run arrives on one
// WebSocket (live.js). Each panel is a module that owns its part of the page; this one boots them, switches the
// tabs and connects the events modules send each other (state.js). Everything from the server is inserted as
// text, never as HTML.

import { $, $$, smoothWhenShrunk } from './util.js';
import { on, emit } from './state.js';
import { initTraining, drawCharts, loadBands, renderStatus } from './training.js';
import { initRecord } from './record.js';
import { initSteer } from './steer.js';
import { initRuns, openRun, refreshRuns, renderRuns } from './runs.js';
import { initForms, loadForm } from './forms.js';
import { connect } from './live.js';
import { initCompare } from './compare.js';
import { initGenerate } from './generate.js';
import { initExport } from './export.js';

// --- Tabs ---------------------------------------------------------------------------------------------------

function showTab(name) {
  $$('.tabs [role="tab"]').forEach((tab) => {
    tab.setAttribute('aria-selected', String(tab.dataset.tab === name));
    tab.tabIndex = tab.dataset.tab === name ? 0 : -1; // one stop in the Tab order; arrows move between them
  });
  $$('.panel').forEach((panel) => { panel.hidden = panel.id !== `panel-${name}`; });
  emit('tab', name);
  if (name === 'training') drawCharts();
}

// The ARIA tabs pattern: Left and Right move to the tab before or after (round), Home and End to the first or last.
function tabKeys(event) {
  const tabs = $$('.tabs [role="tab"]');
  const at = tabs.indexOf(document.activeElement);
  const moves = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: tabs.length - 1 };
  if (at < 0 || !(event.key in moves)) return;
  event.preventDefault();
  const next = tabs[(moves[event.key] + tabs.length) % tabs.length];
  showTab(next.dataset.tab);
  next.focus();
}

// --- Start-up -----------------------------------------------------------------------------------------------

function init() {
  smoothWhenShrunk();
  initTraining();
  initRecord();
  $$('.tabs [role="tab"]').forEach((tab) => tab.addEventListener('click', () => showTab(tab.dataset.tab)));
  $('.tabs').addEventListener('keydown', tabKeys);
  showTab('training');
  initForms();
  initSteer();
  initRuns();
  initCompare();
  initGenerate();
  initExport();
  on('open-run', (name) => { openRun(name); showTab('training'); });
  on('show-tab', showTab);
  on('compare-changed', renderRuns);
  renderStatus();
  loadBands().catch((error) => { $('#ratio-bands').textContent = `could not load the bands: ${error.message}`; });
  loadForm().catch((error) => { $('#form-error').textContent = `could not load the options: ${error.message}`; });
  refreshRuns();
  connect();
}

init();
