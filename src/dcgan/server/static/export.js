// The Model & record tab's export card: the viewed run's generator from a checkpoint picked here, as the zip of
// `dcgan export` (GET /api/runs/{name}/export.zip). It downloads through fetch so that an error shows here
// instead of as a downloaded JSON file.

import { $, el, getBlob, getJSON, runPath, integer, fillChoices, busy, offerDownload } from './util.js';
import { state, on } from './state.js';

let shownFor = null;

function say(text, kind = '') {
  $('#export-status').textContent = text;
  $('#export-status').className = `hint ${kind}`;
}

async function fillCheckpoints(name) {
  shownFor = name;
  try {
    const detail = await getJSON(runPath(name));
    if (shownFor !== name) return;
    const checkpoints = detail.checkpoints;
    const last = checkpoints.find((c) => c.last) || checkpoints.at(-1);
    $('#export-checkpoint').replaceChildren(...checkpoints.slice().reverse().map((c) => el('option', { value: c.name },
      c.step === null ? `${c.name} (for sharing)` : `step ${integer(c.step)}${c.last ? ' (last)' : ''}`)));
    $('#export-checkpoint').value = detail.selected_checkpoint || last?.name || '';
    $('#export-checkpoint').disabled = $('#export-go').disabled = !checkpoints.length;
    say(checkpoints.length ? `${name}: the checkpoint's generator (EMA weights when the run keeps them)`
      : `${name} has no checkpoint yet`);
  } catch (error) {
    if (shownFor === name) say(error.message, 'error');
  }
}

async function exportRun(event) {
  event.preventDefault();
  const name = state.view;
  if (!name) return;
  const params = new URLSearchParams({ format: $('#export-format').value });
  if ($('#export-checkpoint').value) params.set('checkpoint', $('#export-checkpoint').value);
  say(`exporting ${name}…`);
  await busy($('#export-go'), async () => {
    const answer = await getBlob('GET', `${runPath(name)}/export.zip?${params}`);
    const link = offerDownload(el('a'), answer, `${name}.zip`);
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(answer.url), 60000);
    say(`downloaded ${link.download} (${(answer.blob.size / 1e6).toFixed(1)} MB)`, 'ok');
  }).catch((error) => say(error.message, 'error'));
}

export function initExport() {
  $('#export-form').addEventListener('submit', exportRun);
  on('schema', () => fillChoices($('#export-format'), state.schema.export_formats));
  on('view', (name) => {
    // A run still starting has no folder to read yet; the page shows it again (a new 'view') once it runs.
    if (name === state.status.run && state.status.state === 'starting') return;
    if (name !== shownFor) fillCheckpoints(name);
  });
  on('checkpoint', (message) => { if (message.run === state.view) fillCheckpoints(message.run); });
}
