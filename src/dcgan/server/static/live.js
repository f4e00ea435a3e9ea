// The live feed: one WebSocket (/api/live) whose first message, a hello, carries the whole current state, so a
// reload loses nothing; each later message goes to the panels it concerns. A silent socket is closed and
// reconnected with backoff.

import { $, say, NOT_ANSWERING } from './util.js';
import { state, ACTIVE, emit, isLiveView } from './state.js';
import { addPoint, addMark, addSample, showReal, renderStatus, noteWarning, liveLogLine, setLiveLog } from './training.js';
import { showRun, openRun, refreshRuns, updateRunCounts, updateActiveRunMeta } from './runs.js';
import { renderEval, loadRecord } from './record.js';
import { loadHyperparameters } from './steer.js';

let retries = 0;

export function connect() {
  const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/live`);
  let watchdog;
  // Heartbeats come every few seconds: a longer silence means the connection is dead, even if not closed.
  const kick = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => socket.close(), state.heartbeatS * 3000 + 2000);
  };
  socket.onopen = kick; // live once the hello has come: a socket that opens and says nothing is not back
  socket.onmessage = (event) => {
    kick();
    onMessage(JSON.parse(event.data));
  };
  socket.onclose = () => {
    clearTimeout(watchdog);
    const wait = Math.min(10000, 500 * 2 ** retries++);
    setOffline(true);
    setTimeout(connect, wait);
  };
}

// While the server does not answer, a banner says so, the run's controls are off (renderStatus) and its speed and
// ETA show no stale numbers; once the hello comes back, the banner and any "not answering" error go.
function setOffline(offline) {
  const conn = $('#conn');
  conn.dataset.state = offline ? 'offline' : 'live';
  conn.textContent = offline ? 'reconnecting' : 'live';
  $('#offline').hidden = !offline;
  if (state.offline === offline) return;
  state.offline = offline;
  if (!offline && $('#message').textContent.includes(NOT_ANSWERING)) say('');
  renderStatus();
}

function onMessage(message) {
  const loading = state.loading?.name === message.run ? state.loading : null;
  const viewed = message.run === state.view;
  switch (message.type) {
    case 'hello': onHello(message); break;
    case 'status': onStatus(message.status); break;
    case 'metrics':
      if (loading) loading.points.push(message);
      else if (viewed) {
        addPoint(message.step, message.values);
        if (Object.keys(message.values).some((k) => k.startsWith('eval/'))) renderEval();
      }
      if (message.run === state.status.run) emit('live-metrics', message);
      break;
    case 'sample':
      if (loading) loading.samples.push(message.step);
      else if (viewed) addSample(message.step);
      emit('sample', message);
      break;
    case 'log':
      liveLogLine(message.line, message.run); // the live run's: in the Log while it is the run in view
      if (isLiveView()) noteWarning(message.line);
      break;
    case 'checkpoint':
      liveLogLine({ time: Date.now() / 1000, level: 'info', message: `checkpoint ${message.checkpoint} saved` }, message.run);
      emit('checkpoint', message);
      updateRunCounts(message.run);
      break;
    case 'hparam':
      if (loading) loading.marks.push(message.mark);
      else if (viewed) addMark(message.mark);
      if (message.run === state.status.run) loadHyperparameters();
      break;
    case 'event':
      if (viewed && /health|warn/.test(message.kind)) {
        noteWarning({ time: Date.now() / 1000, level: 'warning', message: message.data?.message || JSON.stringify(message.data) });
      }
      if (viewed && message.kind === 'RealGrid') showReal(true); // the run has just written real.png
      break;
    default: break; // heartbeats, epoch ends: the watchdog has seen them
  }
}

function onHello(hello) {
  state.heartbeatS = hello.heartbeat_s;
  const previous = state.status;
  state.status = hello.status;
  retries = 0;
  setOffline(false);
  const run = hello.status.run;
  if (ACTIVE.includes(previous.state) && !(run === previous.run && ACTIVE.includes(hello.status.state))) {
    // The connection came back to a server that no longer trains the run (it was stopped or restarted meanwhile).
    say(`${previous.run} is no longer training: the server stopped it while the page was not connected`
      + ' (a stopped run resumes from its last checkpoint)', 'error');
  }
  setLiveLog(hello.log);
  if (run && (state.followLive || state.view === run)) {
    state.followLive = true;
    showRun(run, hello.history, hello.sample_steps);
  } else {
    renderStatus();
  }
  if (ACTIVE.includes(hello.status.state)) loadHyperparameters();
  if (previous.run !== run || previous.state !== hello.status.state) refreshRuns();
}

function onStatus(status) {
  const previous = state.status;
  state.status = status;
  if (ACTIVE.includes(previous.state) && !ACTIVE.includes(status.state)) {
    say(`${status.run}: ${status.message || status.state}`, status.state === 'failed' ? 'error' : 'ok');
  }
  if (status.run && status.run !== previous.run && state.followLive && state.view !== status.run) {
    openRun(status.run); // a new run started (here or from another page): follow it
  } else if (previous.state === 'starting' && status.state !== 'starting' && status.run === state.view) {
    openRun(status.run); // its folder exists now: history, grids, record (live points already shown stay)
  }
  if (ACTIVE.includes(status.state) && (previous.run !== status.run || !ACTIVE.includes(previous.state))) {
    loadHyperparameters();
  }
  renderStatus();
  updateActiveRunMeta();
  if (previous.state !== status.state || previous.run !== status.run) refreshRuns();
  // A resumed run has a new session in its record once it trains; an ended one its last checkpoint.
  if (status.run === state.view && status.run === previous.run && previous.state !== status.state
    && ['running', 'stopped', 'finished', 'failed'].includes(status.state)) loadRecord(status.run);
}
