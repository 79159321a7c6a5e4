// iglive library: the pages' behaviour. No framework and no build step. Every value that comes
// from the API (usernames, comments, errors) is put into the page with textContent or as an
// attribute value, never parsed as markup; links are only ever same-origin paths.
(function () {
  'use strict';

  var TOKEN_KEY = 'iglive-token';
  var SVG = 'http://www.w3.org/2000/svg';

  // ---- helpers -------------------------------------------------------------------------

  function token() {
    try { return window.localStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }

  function $(id) { return document.getElementById(id); }

  /** A same-origin path, or '#' (a value from the API never becomes a javascript: link). */
  function safeHref(u) {
    return (typeof u === 'string' && u.charAt(0) === '/' && u.charAt(1) !== '/') ? u : '#';
  }

  /** el('a', {href: '/x', text: 'y', class: 'z'}, [children]) */
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    attrs = attrs || {};
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) return;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'class') e.className = v;
      else if (k === 'href') e.setAttribute('href', safeHref(v));
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined) return;
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }

  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }

  function ApiError(status, code, message) {
    this.status = status; this.code = code; this.message = message;
  }

  function showToken(message) {
    var f = $('token');
    if (!f) return;
    if (message) $('token-why').textContent = message;
    f.hidden = false;
  }

  /** Calls the API; resolves with the envelope, rejects with an ApiError. */
  function api(path, opts) {
    opts = opts || {};
    var headers = { 'Accept': 'application/json' };
    var t = token();
    if (t) headers['Authorization'] = 'Bearer ' + t;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(path, {
      method: opts.method || 'GET',
      headers: headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      cache: 'no-store',
      credentials: 'omit'
    }).then(function (r) {
      return r.text().then(function (text) {
        var j = null;
        try { j = text ? JSON.parse(text) : null; } catch (e) { j = null; }
        if (!r.ok) {
          var err = (j && j.error) || {};
          if (r.status === 401) showToken(err.message);
          throw new ApiError(r.status, err.code || 'http_' + r.status, err.message || r.statusText);
        }
        return j;
      });
    });
  }

  /** Every page of a cursor-paged list (bounded: at most `maxPages` requests). */
  function all(path, maxPages, onPage) {
    var out = [];
    var sep = path.indexOf('?') >= 0 ? '&' : '?';
    function next(cursor, n) {
      var url = path + sep + 'limit=1000' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
      return api(url).then(function (j) {
        out = out.concat(j.data);
        if (onPage) onPage(out);
        if (j.meta.next_cursor && n + 1 < maxPages) return next(j.meta.next_cursor, n + 1);
        return out;
      });
    }
    return next(null, 0);
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  function clock(s) {
    if (s === null || s === undefined || !isFinite(s)) return '–';
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, x = s % 60;
    return (h ? h + ':' + pad(m) : m) + ':' + pad(x);
  }

  function when(unix) {
    if (unix === null || unix === undefined) return '–';
    var d = new Date(unix * 1000);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes());
  }

  function isoDate(unix) {
    var d = new Date(unix * 1000);
    return d.toISOString();
  }

  function size(b) {
    if (b === null || b === undefined) return '–';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0, v = b;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return i === 0 ? b + ' B' : v.toFixed(1) + ' ' + u[i];
  }

  function num(v) {
    if (v === null || v === undefined) return '–';
    return Math.round(v).toLocaleString('en-US');
  }

  function who(x) {
    return x.username || x.label || x.user_id || 'unknown';
  }

  function badge(state) {
    return el('span', { class: 'badge ' + String(state), text: String(state).replace('_', ' ') });
  }

  function failed(target, e) {
    target.textContent = (e && e.message) ? 'Error: ' + e.message : 'Error: the server did not answer.';
  }

  // ---- the token form ------------------------------------------------------------------

  function initToken() {
    var f = $('token');
    if (!f) return;
    f.addEventListener('submit', function (ev) {
      ev.preventDefault();
      try { window.localStorage.setItem(TOKEN_KEY, $('token-input').value.trim()); } catch (e) { /* private mode */ }
      window.location.reload();
    });
  }

  // ---- recordings ----------------------------------------------------------------------

  function initRecordings() {
    var form = $('filters'), tbody = document.querySelector('#recordings tbody');
    var more = $('more'), summary = $('summary');
    var names = ['account', 'status', 'since', 'until', 'sort', 'order'];
    var shown = 0, cursor = null, query = '';

    var params = new URLSearchParams(window.location.search);
    names.forEach(function (n) { if (params.get(n)) form.elements[n].value = params.get(n); });

    api('/api/v1/accounts').then(function (j) {
      var sel = form.elements.account, want = params.get('account') || '';
      j.data.forEach(function (a) {
        if (!a.recordings && !a.watched) return;
        sel.appendChild(el('option', { value: a.user_id, text: who(a) + (a.username && a.label ? ' (' + a.label + ')' : '') }));
      });
      sel.value = want;
    }).catch(function () { /* the list still works without names */ });

    function row(r) {
      var link = el('a', { href: r.page_url, text: who(r) });
      return el('tr', { 'data-id': r.broadcast_id }, [
        el('td', { 'data-label': 'Account' }, [link, el('small', { text: r.broadcast_id })]),
        el('td', { 'data-label': 'Started' }, [el('time', { datetime: r.started_at ? isoDate(r.started_at) : null, text: when(r.started_at) })]),
        el('td', { 'data-label': 'Duration', text: clock(r.duration_s) }),
        el('td', { 'data-label': 'Status' }, [badge(r.status)]),
        el('td', { 'data-label': 'Comments', class: 'num', text: num(r.comments) }),
        el('td', { 'data-label': 'Peak viewers', class: 'num', text: num(r.peak_viewers) }),
        el('td', { 'data-label': 'Size', class: 'num', text: size(r.size_bytes) })
      ]);
    }

    function load(reset) {
      if (reset) {
        var q = new URLSearchParams();
        names.forEach(function (n) { var v = form.elements[n].value; if (v) q.set(n, v); });
        query = q.toString();
        window.history.replaceState(null, '', query ? '?' + query : window.location.pathname);
        cursor = null; shown = 0; clear(tbody);
      }
      summary.textContent = 'Loading…';
      var url = '/api/v1/recordings?limit=50' + (query ? '&' + query : '') + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
      return api(url).then(function (j) {
        j.data.forEach(function (r) { tbody.appendChild(row(r)); });
        shown += j.data.length;
        cursor = j.meta.next_cursor;
        more.hidden = !cursor;
        summary.textContent = shown === 0 ? 'No recordings match.' :
          'Showing ' + shown + ' recording' + (shown === 1 ? '' : 's') + (cursor ? ' (more below)' : '') + '.';
        document.body.dataset.loaded = 'true';
      }).catch(function (e) { failed(summary, e); });
    }

    form.addEventListener('submit', function (ev) { ev.preventDefault(); load(true); });
    form.addEventListener('change', function () { load(true); });
    form.addEventListener('reset', function () { setTimeout(function () { load(true); }, 0); });
    more.addEventListener('click', function () { load(false); });
    load(true);
  }

  // ---- one recording -------------------------------------------------------------------

  /** Index of the first comment later than `t` (comments sorted by offset). */
  function upperBound(list, t) {
    var lo = 0, hi = list.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if ((list[mid].offset_s || 0) <= t) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  function chart(box, viewers, likes, end, seek) {
    clear(box);
    var W = 960, H = 220, L = 56, R = 56, T = 16, B = 28;
    var svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('role', 'img');
    var peak = viewers.reduce(function (m, p) { return Math.max(m, p.viewer_count || 0); }, 0);
    var maxLikes = likes.reduce(function (m, p) { return Math.max(m, p.likes || 0); }, 0);
    svg.setAttribute('aria-label', 'Viewers over time, peak ' + num(peak) + '; likes, total ' + num(maxLikes) + '.');
    function node(name, attrs) {
      var n = document.createElementNS(SVG, name);
      Object.keys(attrs).forEach(function (k) { n.setAttribute(k, String(attrs[k])); });
      svg.appendChild(n);
      return n;
    }
    end = Math.max(end || 0, 1);
    function x(o) { return L + Math.min(1, Math.max(0, o / end)) * (W - L - R); }
    function line(points, key, max, cls) {
      if (!points.length || !max) return;
      var d = points.filter(function (p) { return p[key] !== null && p[key] !== undefined; })
        .map(function (p) { return x(p.offset_s || 0).toFixed(1) + ',' + (H - B - (p[key] / max) * (H - T - B)).toFixed(1); });
      if (d.length) node('polyline', { points: d.join(' '), class: cls });
    }
    node('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' });
    node('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' });
    line(viewers, 'viewer_count', peak, 'viewers');
    line(likes, 'likes', maxLikes, 'likes');
    var t1 = node('text', { x: 4, y: T + 10 }); t1.textContent = num(peak);
    var t2 = node('text', { x: W - R + 4, y: T + 10 }); t2.textContent = num(maxLikes);
    var t3 = node('text', { x: L, y: H - 8 }); t3.textContent = '0:00';
    var t4 = node('text', { x: W - R - 40, y: H - 8 }); t4.textContent = clock(end);
    var t5 = node('text', { x: L + 8, y: T + 10 }); t5.textContent = 'viewers (solid), likes (dashed)';
    var cursor = node('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'cursor' });
    svg.addEventListener('click', function (ev) {
      var r = svg.getBoundingClientRect();
      var px = (ev.clientX - r.left) / r.width * W;
      seek(Math.max(0, Math.min(1, (px - L) / (W - L - R))) * end);
    });
    box.appendChild(svg);
    return function (t) {
      var cx = x(t);
      cursor.setAttribute('x1', cx.toFixed(1));
      cursor.setAttribute('x2', cx.toFixed(1));
    };
  }

  function initRecording() {
    var id = decodeURIComponent(window.location.pathname.split('/')[2] || '');
    var params = new URLSearchParams(window.location.search);
    var target = params.has('t') ? parseFloat(params.get('t')) : null;
    if (target !== null && !isFinite(target)) target = null;
    var hitPk = params.get('c');
    var video = $('video'), list = $('chat'), note = $('note'), main = $('main');
    var comments = [], shownUpTo = -1, moveCursor = function () {}, hasVideo = false, scrolledToHit = false;
    var WINDOW = 150;

    function now() {
      if (target !== null) return target;
      if (!hasVideo) return Infinity;
      return video.currentTime || 0;
    }

    function render() {
      var t = now();
      var upTo = t === Infinity ? comments.length : upperBound(comments, t);
      main.dataset.currentTime = String(t === Infinity ? -1 : t);
      main.dataset.videoReady = String(video.readyState >= 1);
      $('chat-time').textContent = t === Infinity ? '(all)' : 'at ' + clock(t);
      moveCursor(t === Infinity ? 0 : t);
      if (upTo === shownUpTo) return;
      shownUpTo = upTo;
      clear(list);
      var hitItem = null;
      for (var i = Math.max(0, upTo - WINDOW); i < upTo; i++) {
        var c = comments[i];
        var li = el('li', { 'data-pk': c.pk, 'data-offset': c.offset_s || 0 }, [
          el('span', { class: 't', text: clock(c.offset_s) }),
          el('span', { class: 'u', text: c.username || c.user_id || 'unknown' }),
          el('span', { class: 'x', text: c.text })
        ]);
        if (hitPk && c.pk === hitPk) { li.className = 'hit'; li.setAttribute('aria-current', 'true'); hitItem = li; }
        list.appendChild(li);
      }
      main.dataset.shownComments = String(upTo);
      if (hitItem && !scrolledToHit) {
        scrolledToHit = true;
        list.scrollTop = Math.max(0, hitItem.offsetTop - list.clientHeight / 2);
      } else {
        list.scrollTop = list.scrollHeight;
      }
    }

    function seek(t) {
      if (hasVideo && video.readyState >= 1) {
        target = null;
        video.currentTime = Math.min(t, video.duration || t);
      } else {
        target = t;
      }
      render();
    }

    video.addEventListener('loadedmetadata', function () {
      if (target !== null) {
        video.currentTime = Math.min(target, video.duration || target);
        target = null;
      }
      render();
    });
    video.addEventListener('timeupdate', render);
    video.addEventListener('seeked', render);

    api('/api/v1/recordings/' + encodeURIComponent(id)).then(function (j) {
      var r = j.data, f = r.facts || {};
      document.title = who(r) + ' — ' + when(r.started_at) + ' · iglive';
      $('title').textContent = who(r) + ' — live ' + when(r.started_at);
      $('subtitle').textContent = (f.broadcast_message ? f.broadcast_message + ' · ' : '') + 'broadcast ' + r.broadcast_id;
      if (r.video_url) {
        hasVideo = true;
        video.src = r.video_url;
        if (r.cover_url) video.poster = r.cover_url;
        video.appendChild(el('track', { kind: 'subtitles', src: r.downloads.chat_vtt, srclang: 'und', label: 'Chat' }));
      } else {
        video.hidden = true;
        note.hidden = false;
        note.textContent = r.is_being_updated
          ? 'This broadcast is still being recorded; the video appears when it ends. See the Live page for its progress.'
          : 'No video for this recording (' + (r.error || 'the recording did not finish') + '). The chat, chart and facts are complete.';
      }
      facts(r, f);
      downloads(r);
      all('/api/v1/recordings/' + encodeURIComponent(id) + '/comments', 500, function (got) {
        comments = got.slice().sort(function (a, b) { return (a.offset_s || 0) - (b.offset_s || 0); });
        shownUpTo = -1;
        render();
      }).then(function () { main.dataset.commentsLoaded = String(comments.length); render(); });
      Promise.all([
        all('/api/v1/recordings/' + encodeURIComponent(id) + '/viewers', 100),
        all('/api/v1/recordings/' + encodeURIComponent(id) + '/likes', 100)
      ]).then(function (x) {
        moveCursor = chart($('chart'), x[0], x[1], r.duration_s || 0, seek) || moveCursor;
        render();
      }).catch(function () { $('chart').textContent = 'The chart could not be loaded.'; });
    }).catch(function (e) { $('title').textContent = 'Recording not available'; note.hidden = false; failed(note, e); });
    render();
  }

  function facts(r, f) {
    var dl = $('facts');
    clear(dl);
    var cap = f.capture || {}, eng = f.engagement || {}, rec = f.recording || {};
    [
      ['Account', who(r) + ' (' + r.user_id + ')'],
      ['Full name', (f.owner && f.owner.full_name) || '–'],
      ['Broadcast', r.broadcast_id],
      ['Started', when(r.started_at)],
      ['Ended', when(r.ended_at)],
      ['Duration', clock(r.duration_s)],
      ['Status', r.status + (f.final_status ? ' (Instagram: ' + f.final_status + ')' : '')],
      ['Why it ended', f.end_reason || '–'],
      ['Segments', (cap.segments_captured || r.segments_captured) + ' captured, ' + (cap.segments_missing || r.segments_missing) + ' missing' + (cap.rewind_used ? ', rewound to the start' : '')],
      ['Comments', num(r.comments)],
      ['Peak viewers', num(r.peak_viewers)],
      ['Unique viewers', num(eng.unique_viewers)],
      ['Likes', num(r.likes)],
      ['Size on disk', size(r.size_bytes)],
      ['Note', rec.cut_by_shutdown ? 'cut short by a shutdown of iglive' : null],
      ['Error', r.error]
    ].forEach(function (p) {
      if (p[1] === null || p[1] === undefined) return;
      dl.appendChild(el('dt', { text: p[0] }));
      dl.appendChild(el('dd', { text: p[1] }));
    });
  }

  function downloads(r) {
    var ul = $('downloads');
    clear(ul);
    [
      [r.downloads.video, 'Video (MP4)'],
      [r.downloads.comments_jsonl, 'Comments (JSON lines)'],
      [r.downloads.chat_vtt, 'Chat subtitles (WebVTT)'],
      [r.downloads.chat_srt, 'Chat subtitles (SubRip)']
    ].forEach(function (d) {
      if (!d[0]) return;
      ul.appendChild(el('li', {}, [el('a', { href: d[0], download: '', text: d[1] })]));
    });
  }

  // ---- live ----------------------------------------------------------------------------

  /** Server-sent events over fetch (so a token can go in a header), reconnecting with backoff. */
  function events(path, onEvent, onState) {
    var delay = 1000;
    function dispatch(block) {
      var type = 'message', data = [];
      block.split('\n').forEach(function (line) {
        if (line.charAt(0) === ':') return;
        var i = line.indexOf(':');
        var field = i < 0 ? line : line.slice(0, i);
        var value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'event') type = value;
        else if (field === 'data') data.push(value);
      });
      if (!data.length) return;
      try { onEvent(type, JSON.parse(data.join('\n'))); } catch (e) { /* a malformed event is skipped */ }
    }
    function connect() {
      var headers = { 'Accept': 'text/event-stream' };
      var t = token();
      if (t) headers['Authorization'] = 'Bearer ' + t;
      fetch(path, { headers: headers, cache: 'no-store', credentials: 'omit' }).then(function (r) {
        if (r.status === 401) { showToken(); throw new Error('token'); }
        if (!r.ok || !r.body) throw new Error('HTTP ' + r.status);
        onState('open');
        delay = 1000;
        var reader = r.body.getReader(), dec = new TextDecoder(), buf = '';
        function pump() {
          return reader.read().then(function (x) {
            if (x.done) throw new Error('closed');
            buf += dec.decode(x.value, { stream: true }).replace(/\r\n?/g, '\n');
            var i;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              dispatch(buf.slice(0, i));
              buf = buf.slice(i + 2);
            }
            return pump();
          });
        }
        return pump();
      }).catch(function () {
        onState('retry');
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 15000);
      });
    }
    connect();
  }

  function initLive() {
    var box = $('live'), conn = $('conn'), empty = $('empty'), ended = $('ended');
    var cards = {};

    function field(dl, key, label) {
      var dd = el('dd', { 'data-field': key });
      dl.appendChild(el('dt', { text: label }));
      dl.appendChild(dd);
      return dd;
    }

    function card(item) {
      var h = el('h2', {}, [el('a', { href: item.page_url })]);
      var dl = el('dl');
      var c = {
        root: el('article', { class: 'card', 'data-id': item.broadcast_id, 'aria-labelledby': 'live-' + item.broadcast_id }),
        link: h.firstChild,
        state: el('p'),
        elapsed: field(dl, 'elapsed', 'Live for'),
        video: field(dl, 'video', 'Video captured'),
        segments: field(dl, 'segments', 'Segments'),
        viewers: field(dl, 'viewers', 'Viewers'),
        comments: field(dl, 'comments', 'Comments'),
        likes: field(dl, 'likes', 'Likes'),
        chat: el('ol', { 'aria-label': 'Latest comments' }),
        started: null
      };
      h.id = 'live-' + item.broadcast_id;
      c.root.appendChild(h);
      c.root.appendChild(c.state);
      c.root.appendChild(dl);
      c.root.appendChild(c.chat);
      return c;
    }

    function update(c, item) {
      c.link.textContent = who(item);
      clear(c.state);
      c.state.appendChild(badge(item.status));
      c.started = item.started_at;
      c.captured = item.duration_s;
      c.video.textContent = clock(item.duration_s);
      c.segments.textContent = num(item.segments_captured) + ' captured, ' + num(item.segments_missing) + ' missing';
      c.viewers.textContent = num(item.viewers) + ' (peak ' + num(item.peak_viewers) + ')';
      c.comments.textContent = num(item.comments);
      c.likes.textContent = num(item.likes);
      var key = item.latest_comments.map(function (m) { return m.pk; }).join(',');
      if (c.chatKey !== key) {
        c.chatKey = key;
        clear(c.chat);
        item.latest_comments.forEach(function (m) {
          c.chat.appendChild(el('li', {}, [el('span', { class: 'u', text: m.username || m.user_id || 'unknown' }), el('span', { text: m.text })]));
        });
      }
      tick(c);
    }

    function tick(c) {
      // Never less than the video already captured (a clock behind the broadcaster's).
      c.elapsed.textContent = c.started ? clock(Math.max(Date.now() / 1000 - c.started, c.captured || 0)) : '–';
    }

    function endedItem(ch) {
      $('ended-s').hidden = false;
      var li = el('li', { 'data-id': ch.broadcast_id }, [
        el('a', { href: ch.page_url, text: ch.username || ch.broadcast_id }), ' ',
        badge(ch.status || 'ended')
      ]);
      var old = ended.querySelector('[data-id="' + CSS.escape(ch.broadcast_id) + '"]');
      if (old) ended.replaceChild(li, old); else ended.insertBefore(li, ended.firstChild);
    }

    function apply(items) {
      var seen = {};
      items.forEach(function (item) {
        seen[item.broadcast_id] = true;
        var c = cards[item.broadcast_id];
        if (!c) { c = cards[item.broadcast_id] = card(item); box.appendChild(c.root); }
        update(c, item);
      });
      Object.keys(cards).forEach(function (id) {
        if (!seen[id]) { box.removeChild(cards[id].root); delete cards[id]; }
      });
      empty.hidden = items.length > 0;
      document.body.dataset.liveCount = String(items.length);
    }

    setInterval(function () { Object.keys(cards).forEach(function (id) { tick(cards[id]); }); }, 1000);
    events('/api/v1/events', function (type, data) {
      if (type === 'live') apply(data);
      else if (type === 'recording' && data.status && ['finished', 'failed'].indexOf(data.status) >= 0) endedItem(data);
    }, function (state) {
      conn.textContent = state === 'open' ? 'Connected: this page updates by itself.' : 'Connection lost; reconnecting…';
    });
  }

  // ---- search --------------------------------------------------------------------------

  /** `text` with every occurrence of the query's words wrapped in <mark> (DOM nodes only). */
  function highlighted(text, words) {
    var span = el('span');
    var lower = text.toLowerCase();
    var ranges = [];
    words.forEach(function (w) {
      w = w.replace(/\*$/, '').toLowerCase();
      if (!w) return;
      var i = 0, n = 0;
      while ((i = lower.indexOf(w, i)) >= 0 && n++ < 50) { ranges.push([i, i + w.length]); i += w.length; }
    });
    ranges.sort(function (a, b) { return a[0] - b[0]; });
    var pos = 0;
    ranges.forEach(function (r) {
      if (r[0] < pos) return;
      span.appendChild(document.createTextNode(text.slice(pos, r[0])));
      span.appendChild(el('mark', { text: text.slice(r[0], r[1]) }));
      pos = r[1];
    });
    span.appendChild(document.createTextNode(text.slice(pos)));
    return span;
  }

  function initSearch() {
    var form = $('search'), input = $('q'), hits = $('hits'), more = $('more'), summary = $('summary');
    var cursor = null, q = '', shown = 0;

    function hit(h, words) {
      return el('li', { 'data-pk': h.pk }, [
        el('p', { class: 'meta' }, [
          el('a', { href: h.page_url, text: (h.owner_username || h.owner_user_id || 'unknown') + ' — ' + when(h.started_at) + ' at ' + clock(h.offset_s) })
        ]),
        el('p', {}, [el('span', { class: 'u', text: h.username || h.user_id || 'unknown' }), highlighted(h.text, words)])
      ]);
    }

    function run(reset) {
      if (reset) {
        q = input.value.trim();
        cursor = null; shown = 0; clear(hits);
        window.history.replaceState(null, '', q ? '?q=' + encodeURIComponent(q) : window.location.pathname);
      }
      if (!q) { summary.textContent = ''; more.hidden = true; return; }
      summary.textContent = 'Searching…';
      var words = q.split(/\s+/);
      api('/api/v1/search?limit=50&q=' + encodeURIComponent(q) + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '')).then(function (j) {
        j.data.forEach(function (h) { hits.appendChild(hit(h, words)); });
        shown += j.data.length;
        cursor = j.meta.next_cursor;
        more.hidden = !cursor;
        summary.textContent = shown === 0 ? 'No comment matches.' : shown + ' comment' + (shown === 1 ? '' : 's') + ' found' + (cursor ? ' so far' : '') + ', newest recording first.';
      }).catch(function (e) { failed(summary, e); });
    }

    form.addEventListener('submit', function (ev) { ev.preventDefault(); run(true); });
    more.addEventListener('click', function () { run(false); });
    var initial = new URLSearchParams(window.location.search).get('q');
    if (initial) { input.value = initial; run(true); }
  }

  // ---- accounts ------------------------------------------------------------------------

  function initAccounts() {
    var tbody = document.querySelector('#accounts tbody'), form = $('add'), msg = $('msg');

    function load() {
      return api('/api/v1/accounts').then(function (j) {
        clear(tbody);
        j.data.forEach(function (a) {
          var name = who(a);
          var remove = a.watched ? el('button', {
            type: 'button', class: 'danger', text: 'Remove', 'aria-label': 'Remove ' + name + ' from the watch list',
            onclick: function () {
              if (!window.confirm('Stop watching ' + name + '? Its recordings stay.')) return;
              api('/api/v1/accounts/' + encodeURIComponent(a.user_id), { method: 'DELETE' }).then(function () {
                msg.textContent = 'Removed ' + name + ' from the watch list.';
                return load();
              }).catch(function (e) { failed(msg, e); });
            }
          }) : null;
          tbody.appendChild(el('tr', { 'data-user': a.user_id }, [
            el('td', { 'data-label': 'Account' }, [
              a.last_broadcast_id ? el('a', { href: '/?account=' + encodeURIComponent(a.user_id), text: name }) : el('span', { text: name }),
              el('small', { text: a.user_id + (a.label && a.username ? ' · ' + a.label : '') })
            ]),
            el('td', { 'data-label': 'State' }, [badge(a.state)]),
            el('td', { 'data-label': 'Last live' }, [a.last_live_url ? el('a', { href: a.last_live_url, text: when(a.last_live_at) }) : el('span', { text: 'never recorded' })]),
            el('td', { 'data-label': 'Recordings', class: 'num', text: num(a.recordings) }),
            el('td', {}, [remove])
          ]));
        });
        document.body.dataset.accounts = String(j.data.filter(function (a) { return a.watched; }).length);
        var configured = j.data.some(function (a) { return a.state === 'configured'; });
        $('mode').textContent = configured
          ? 'No daemon runs here (iglive serve): changes are written to the config file, and a daemon using it picks them up on reload (systemctl reload iglive).'
          : 'Changes are written to the config file (comments kept) and the daemon watches the new list at once.';
      }).catch(function (e) { failed(msg, e); });
    }

    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var body = { user_id: form.elements.user_id.value.trim() };
      var label = form.elements.label.value.trim();
      if (label) body.label = label;
      msg.textContent = 'Adding…';
      api('/api/v1/accounts', { method: 'POST', body: body }).then(function (j) {
        msg.textContent = 'Added ' + who(j.data) + ' to the watch list.';
        form.reset();
        return load();
      }).catch(function (e) { failed(msg, e); });
    });
    load();
  }

  // ---- sessions and system -------------------------------------------------------------

  function initSessions() {
    var tbody = document.querySelector('#sessions tbody'), summary = $('summary');
    api('/api/v1/sessions').then(function (j) {
      clear(tbody);
      if (!j.data.length) { summary.textContent = 'No session: iglive serve browses an archive and records nothing.'; return; }
      j.data.forEach(function (s) {
        var detail = s.state === 'expired'
          ? (s.expired_reason || 'refused') + (s.challenge_url ? ' — challenge: ' + s.challenge_url : '') + '. Replace the session file and reload.'
          : s.throttled_for_s ? 'waiting ' + Math.ceil(s.throttled_for_s) + ' s after throttling' : 'requests go through';
        tbody.appendChild(el('tr', {}, [
          el('td', { 'data-label': 'Session', text: s.id }),
          el('td', { 'data-label': 'Account', text: s.user_id || '–' }),
          el('td', { 'data-label': 'State' }, [badge(s.state)]),
          el('td', { 'data-label': 'Slowdown', class: 'num', text: '×' + s.slowdown.toFixed(1) }),
          el('td', { 'data-label': 'Throttle events', class: 'num', text: num(s.throttle_events) }),
          el('td', { 'data-label': 'Details', text: detail })
        ]));
      });
      summary.textContent = j.data.length + ' session' + (j.data.length === 1 ? '' : 's') + '.';
    }).catch(function (e) { failed(summary, e); });
  }

  function checks(ul, list) {
    clear(ul);
    list.forEach(function (c) {
      ul.appendChild(el('li', {}, [el('span', { class: c.ok ? 'ok' : 'bad', text: c.ok ? 'OK' : 'FAIL' }), ' ' + c.name + ': ', el('span', { text: c.detail })]));
    });
  }

  function initSystem() {
    api('/build').then(function (j) {
      var dl = $('build');
      Object.keys(j.data).forEach(function (k) {
        dl.appendChild(el('dt', { text: k.replace(/_/g, ' ') }));
        dl.appendChild(el('dd', { text: String(j.data[k]) }));
      });
    }).catch(function (e) { failed($('build'), e); });
    api('/deps').then(function (j) { checks($('deps'), j.data.checks); }).catch(function (e) { failed($('deps'), e); });
    var headers = { 'Accept': 'application/json' };
    if (token()) headers['Authorization'] = 'Bearer ' + token();
    fetch('/ready', { headers: headers, cache: 'no-store', credentials: 'omit' }).then(function (r) {
      return r.json().then(function (j) {
        $('ready-state').textContent = j.ready ? 'Ready.' : 'Not ready: a check fails.';
        checks($('ready'), j.checks || []);
      });
    }).catch(function () { $('ready-state').textContent = 'No readiness endpoint answered.'; });
  }

  var pages = {
    recordings: initRecordings,
    recording: initRecording,
    live: initLive,
    search: initSearch,
    accounts: initAccounts,
    sessions: initSessions,
    system: initSystem
  };

  function start() {
    initToken();
    var init = pages[document.body.dataset.page];
    if (init) init();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();

  window.iglive = { api: api, el: el, clear: clear, clock: clock, failed: failed };
})();
