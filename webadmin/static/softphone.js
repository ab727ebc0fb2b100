// The browser phone: WebRTC between this page and one of the server's browser station ports, shared by the
// agent workbench and the supervisor console. TLSoftphone(base, csrf, audioElement) gives a phone whose endpoints are
// base + '/offer' | '/hook' | '/release' | '/state'; window.softphoneLevel(hz) says what the page hears.
(function(){
  let current = null;
  window.TLSoftphone = function(base, csrf, audio){
    const sp = {pc: null, stream: null, port: null, offhook: false, muted: false, analyser: null};
    if (!audio){ audio = document.createElement('audio'); audio.hidden = true; document.body.append(audio); }
    audio.autoplay = true;
    sp.post = (what, body) => fetch(base + '/' + what, {method: 'POST',
      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: JSON.stringify(body || {})}).then(r => r.json());
    sp.state = () => fetch(base + '/state').then(r => r.json());
    sp.hook = offhook => { sp.offhook = offhook; return sp.post('hook', {offhook: offhook}); };
    // claim a phone, connect the microphone and the received audio; resolves to the station port
    sp.start = async function(){
      sp.stream = await navigator.mediaDevices.getUserMedia({audio: true, video: false});
      const pc = sp.pc = new RTCPeerConnection({iceServers: []});
      for (const t of sp.stream.getAudioTracks()) pc.addTrack(t, sp.stream);
      pc.ontrack = ev => {
        audio.srcObject = ev.streams[0] || new MediaStream([ev.track]);
        const ctx = new AudioContext(), src = ctx.createMediaStreamSource(audio.srcObject);
        sp.analyser = ctx.createAnalyser(); sp.analyser.fftSize = 4096; sp.analyser.smoothingTimeConstant = 0; src.connect(sp.analyser); ctx.resume();
      };
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise(ok => { if (pc.iceGatheringState === 'complete') ok();
        else { pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') ok(); }); setTimeout(ok, 3000); } });
      const j = await sp.post('offer', {sdp: pc.localDescription.sdp});
      if (!j.ok) throw new Error(j.error);
      await pc.setRemoteDescription({type: 'answer', sdp: j.sdp});
      sp.port = j.port;
      return j.port;
    };
    sp.stop = function(){
      if (sp.pc){ sp.pc.close(); sp.pc = null; }
      if (sp.stream){ for (const t of sp.stream.getTracks()) t.stop(); sp.stream = null; }
      sp.port = null; sp.offhook = false; sp.analyser = null;
      return sp.post('release');
    };
    sp.mute = function(){
      sp.muted = !sp.muted;
      if (sp.stream) for (const t of sp.stream.getAudioTracks()) t.enabled = !sp.muted;
      return sp.muted;
    };
    sp.connection = () => sp.pc ? sp.pc.connectionState : '';
    current = sp;
    return sp;
  };
  // measured by the tests and usable for a level meter: the loudest frequency and its level (dB) of what
  // the page hears, and with `hz` the level at that frequency (`at`, dB, the loudest bin within ±1)
  window.softphoneLevel = function(hz){
    if (!current || !current.analyser) return null;
    const a = current.analyser, bins = new Float32Array(a.frequencyBinCount); a.getFloatFrequencyData(bins);
    let k = 1; for (let i = 1; i < bins.length; i++) if (bins[i] > bins[k]) k = i;
    const out = {hz: k * a.context.sampleRate / a.fftSize, db: bins[k]};
    if (hz){ const c = Math.round(hz * a.fftSize / a.context.sampleRate); out.at = Math.max(bins[c - 1], bins[c], bins[c + 1]); }
    return out;
  };
})();
