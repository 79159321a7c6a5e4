// iglive library: /docs renders /openapi.json (generated from the code) without any external
// viewer: operations grouped by tag with their parameters and responses, then the schemas.
(function () {
  'use strict';
  var g = window.iglive;
  if (!g || document.body.dataset.page !== 'docs') return;
  var el = g.el, root = document.getElementById('doc'), state = document.getElementById('doc-state');

  function refName(ref) { return String(ref || '').split('/').pop(); }

  function typeOf(s) {
    if (!s) return '';
    if (s.$ref) return refName(s.$ref);
    if (s.type === 'array') return 'array of ' + typeOf(s.items);
    if (Array.isArray(s.type)) return s.type.join(' | ');
    if (s.oneOf) return s.oneOf.map(typeOf).join(' | ');
    if (s.allOf) return s.allOf.map(typeOf).join(' & ');
    if (s.enum) return s.enum.join(' | ');
    return s.type || 'object';
  }

  function bodyType(content) {
    if (!content) return '';
    return Object.keys(content).map(function (ct) {
      var sch = content[ct].schema;
      return ct + (sch ? ': ' + typeOf(sch) : '');
    }).join(', ');
  }

  function table(head, rows) {
    var t = el('table', {}, [el('thead', {}, [el('tr', {}, head.map(function (h) { return el('th', { scope: 'col', text: h }); }))])]);
    var tb = el('tbody');
    rows.forEach(function (r) { tb.appendChild(el('tr', {}, r.map(function (c) { return el('td', { text: c }); }))); });
    t.appendChild(tb);
    return t;
  }

  function operation(path, method, op) {
    var id = 'op-' + method + '-' + path.replace(/[^A-Za-z0-9]+/g, '-');
    var s = el('section', { class: 'op', id: id, 'aria-labelledby': id + '-h' }, [
      el('h3', { id: id + '-h' }, [el('span', { class: 'method', text: method }), el('code', { text: path })])
    ]);
    if (op.summary) s.appendChild(el('p', { text: op.summary }));
    if (op.description && op.description !== op.summary) s.appendChild(el('p', { class: 'hint', text: op.description }));
    if (op.parameters && op.parameters.length) {
      s.appendChild(el('h4', { text: 'Parameters' }));
      s.appendChild(table(['name', 'in', 'required', 'type', 'description'], op.parameters.map(function (p) {
        return [p.name, p['in'], p.required ? 'yes' : 'no', typeOf(p.schema), p.description || ''];
      })));
    }
    if (op.requestBody) {
      s.appendChild(el('h4', { text: 'Body' }));
      s.appendChild(el('p', { text: bodyType(op.requestBody.content) }));
    }
    if (op.responses) {
      s.appendChild(el('h4', { text: 'Responses' }));
      s.appendChild(table(['status', 'description', 'body'], Object.keys(op.responses).map(function (code) {
        var r = op.responses[code];
        return [code, r.description || '', bodyType(r.content)];
      })));
    }
    return s;
  }

  function render(doc) {
    root.appendChild(el('p', { text: (doc.info && doc.info.description) || '' }));
    root.appendChild(el('p', { class: 'hint', text: 'OpenAPI ' + doc.openapi + ', iglive ' + (doc.info && doc.info.version) + '. The raw document: /openapi.json.' }));
    var byTag = {};
    var tags = (doc.tags || []).map(function (t) { return t.name; });
    Object.keys(doc.paths || {}).sort().forEach(function (path) {
      var item = doc.paths[path];
      ['get', 'post', 'put', 'delete', 'patch'].forEach(function (m) {
        if (!item[m]) return;
        var tag = (item[m].tags && item[m].tags[0]) || 'other';
        if (tags.indexOf(tag) < 0) tags.push(tag);
        (byTag[tag] = byTag[tag] || []).push(operation(path, m, item[m]));
      });
    });
    var nav = el('ul');
    root.appendChild(el('nav', { 'aria-label': 'API sections' }, [nav]));
    tags.forEach(function (tag) {
      if (!byTag[tag]) return;
      var desc = (doc.tags || []).filter(function (t) { return t.name === tag; })[0];
      nav.appendChild(el('li', {}, [el('a', { href: '/docs#tag-' + tag, text: tag })]));
      var sec = el('section', { id: 'tag-' + tag, 'aria-labelledby': 'tag-' + tag + '-h' }, [
        el('h2', { id: 'tag-' + tag + '-h', text: tag }),
        desc && desc.description ? el('p', { text: desc.description }) : null
      ]);
      byTag[tag].forEach(function (s) { sec.appendChild(s); });
      root.appendChild(sec);
    });
    var schemas = (doc.components && doc.components.schemas) || {};
    var ss = el('section', { id: 'schemas', 'aria-labelledby': 'schemas-h' }, [el('h2', { id: 'schemas-h', text: 'Schemas' })]);
    nav.appendChild(el('li', {}, [el('a', { href: '/docs#schemas', text: 'schemas' })]));
    Object.keys(schemas).sort().forEach(function (name) {
      var s = schemas[name];
      var sec = el('section', { class: 'op', id: 'schema-' + name }, [el('h3', {}, [el('code', { text: name })])]);
      if (s.description) sec.appendChild(el('p', { text: s.description }));
      var props = s.properties || {};
      var req = s.required || [];
      var rows = Object.keys(props).map(function (p) {
        return [p, typeOf(props[p]), req.indexOf(p) >= 0 ? 'yes' : 'no', props[p].description || ''];
      });
      if (rows.length) sec.appendChild(table(['field', 'type', 'required', 'description'], rows));
      else if (s.enum || s.oneOf) sec.appendChild(el('p', { text: typeOf(s) }));
      ss.appendChild(sec);
    });
    root.appendChild(ss);
    state.textContent = Object.keys(doc.paths || {}).length + ' paths documented.';
    document.body.dataset.docsLoaded = 'true';
  }

  fetch('/openapi.json', { cache: 'no-store', credentials: 'omit' }).then(function (r) { return r.json(); })
    .then(render)
    .catch(function (e) { state.textContent = 'The document could not be loaded: ' + e.message; });
})();
