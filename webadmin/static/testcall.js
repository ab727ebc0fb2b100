// Test call from the browser: WebRTC to a browser station port, dial into the inbound route, keypad, live IVR path.
(function(){
  const $ = id => document.getElementById(id);
  const root = $('testcall'); if (!root) return;
  const T = root.dataset, base = T.base, csrf = document.querySelector('meta[name=csrf-token]').content;
  const tc = {pc: null, stream: null, analyser: null, sawCall: false, dialled: false};
  const post = (what, body) => fetch(base + '/' + what, {method: 'POST', headers: {'Content-Type': 'application/json',
    'X-CSRF-Token': csrf}, body: JSON.stringify(body || {})}).then(r => r.json());
  const say = (text, err) => { $('tc-msg').textContent = err ? text : ''; if (!err) $('tc-status').textContent = text; };
  async function connect(){
    say(T.tConnecting);
    tc.stream = await navigator.mediaDevices.getUserMedia({audio: true, video: false});
    const pc = tc.pc = new RTCPeerConnection({iceServers: []});
    for (const t of tc.stream.getAudioTracks()) pc.addTrack(t, tc.stream);
    pc.ontrack = ev => {
      const audio = $('tc-audio'); audio.srcObject = ev.streams[0] || new MediaStream([ev.track]);
      const ctx = new AudioContext(), src = ctx.createMediaStreamSource(audio.srcObject);
      tc.analyser = ctx.createAnalyser(); tc.analyser.fftSize = 4096; src.connect(tc.analyser); ctx.resume();
    };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise(ok => { if (pc.iceGatheringState === 'complete') ok();
      else { pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') ok(); }); setTimeout(ok, 3000); } });
    const j = await post('offer', {sdp: pc.localDescription.sdp});
    if (!j.ok) throw new Error(j.error);
    await pc.setRemoteDescription({type: 'answer', sdp: j.sdp});
    say(T.tReady);
  }
  async function dial(){
    $('tc-msg').textContent = '';
    try { if (!tc.pc) await connect(); }
    catch (e){ say(e && e.name === 'NotAllowedError' ? T.tNomic : String(e && e.message || e), true); return; }
    const j = await post('dial', {number: $('tc-number').value, caller: $('tc-caller').value});
    if (!j.ok){ say(j.error, true); return; }
    tc.dialled = true; tc.sawCall = false; say(T.tCalling); render();
  }
  function hangup(){ tc.dialled = false; return post('hangup').then(() => { say(T.tEnded); render(); }); }
  function render(){ $('tc-dial').disabled = tc.dialled; $('tc-hangup').disabled = !tc.dialled; }
  async function poll(){
    try {
      const s = await (await fetch(base + '/state')).json();
      const c = s.call;
      if (c){ tc.sawCall = true; $('tc-call-id').textContent = c.id; $('tc-path').textContent = c.ivr_path || '';
        $('tc-digits').textContent = c.digits || ''; if (tc.dialled) say(T.tIncall); }
      else if (tc.dialled && tc.sawCall){ await hangup(); }          // the flow hung up: back on hook
    } catch (e){ /* the next poll tries again */ }
    setTimeout(poll, 500);
  }
  // measured by the tests and usable as a level meter: the loudest frequency and level of what the page hears
  window.testcallLevel = function(){
    if (!tc.analyser) return null;
    const a = tc.analyser, bins = new Float32Array(a.frequencyBinCount); a.getFloatFrequencyData(bins);
    let k = 1; for (let i = 1; i < bins.length; i++) if (bins[i] > bins[k]) k = i;
    return {hz: k * a.context.sampleRate / a.fftSize, db: bins[k]};
  };
  $('tc-dial').addEventListener('click', dial);
  $('tc-hangup').addEventListener('click', hangup);
  for (const k of document.querySelectorAll('.tc-key')) k.addEventListener('click', () => post('dtmf', {digits: k.dataset.digit}));
  window.addEventListener('pagehide', () => { navigator.sendBeacon && fetch(base + '/release', {method: 'POST', keepalive: true,
    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: '{}'}); });
  render(); poll();
})();
